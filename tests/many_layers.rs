//! A network of 128 layers, the most the DSL takes, builds (its type nests as a balanced
//! tree of chains of at most 32 layers, not 128 levels deep, which overflowed rustc's
//! recursion limit), names its parameters by position and trains.

use rnn_core::prelude::*;

network! {
    /// 64 `Linear(4, 4)`, each followed by a `Tanh`.
    pub Deep<seq_len = 2> = Sequential[
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
    ];
}

#[test]
fn a_network_of_128_layers_builds_names_and_trains() {
    let mut net = Box::new(Deep::new(1));
    {
        let params = net.parameters();
        assert_eq!(params.len(), 128, "64 weights and 64 biases");
        assert_eq!(params[0].name, "0.weight");
        assert_eq!(params[64].name, "64.weight");
        assert_eq!(params[127].name, "126.bias");
    }
    let x = [SMatrix::<f32, 4, 1>::from_element(0.5); 2];
    let y = net.forward(&x).to_vec();
    assert!(y[1].iter().all(|v| v.is_finite()));
    let g = net.backward(&x, &y);
    assert!(g[0].iter().all(|v| v.is_finite()));
    net.update_parameters(0.01);
    // Saved and loaded by name, the weights give the same numbers.
    let bytes = rnn_core::io::to_safetensors(&*net).expect("saves");
    let mut again = Box::new(Deep::new(2));
    rnn_core::io::load_safetensors(&mut *again, &bytes).expect("loads by name");
    assert_eq!(again.forward(&x).to_vec(), net.forward(&x).to_vec());
}
