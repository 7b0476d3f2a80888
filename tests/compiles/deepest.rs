use rnn_core::prelude::*;

network! {
    /// 16 levels of nesting, the most a parameter name holds: names are whole and distinct.
    pub Deepest<seq_len = 2> = Sequential[ Linear(2, 2), Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Linear(2, 2) ] ] ] ] ] ] ] ] ] ] ] ] ] ] ] ];
}

pub fn main() {
    let net = Deepest::new(0);
    let names: Vec<String> = net
        .parameters()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names[0], "0.weight");
    assert_eq!(names[2], format!("1.{}weight", "0.".repeat(15)));
    let bytes = rnn_core::io::to_safetensors(&net).expect("whole names save");
    let mut back = Deepest::new(1);
    rnn_core::io::load_safetensors(&mut back, &bytes).expect("and load");
}
