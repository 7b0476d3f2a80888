//! Unit tests of the grammar (`ast`) and the validator (`validate`): each error the macro
//! reports, with its message and the tokens it underlines, without a compiler in the loop
//! (`tests/ui/` keeps the trybuild snapshots of what a user sees; the cases below are theirs,
//! read from the same DSL text).

// A failed test panics; the crate's lints keep panics out of the macro's own code.
#![allow(clippy::panic)]

use crate::{ast, validate};
use proc_macro2::Span;

/// The source text `span` covers in `src` (its first line, for a span over several lines).
fn text(src: &str, span: Span) -> String {
    let (start, end) = (span.start(), span.end());
    let line: Vec<char> = src
        .lines()
        .nth(start.line - 1)
        .unwrap_or_default()
        .chars()
        .collect();
    let stop = if end.line == start.line {
        end.column
    } else {
        line.len()
    };
    line.get(start.column..stop.min(line.len()))
        .unwrap_or_default()
        .iter()
        .collect()
}

/// What the macro reports for `body` (the inside of `network! { ... }`): a parse error, or
/// every error of validation, each as its message and the text it underlines.
fn errors(body: &str) -> Vec<(String, String)> {
    match syn::parse_str::<ast::Input>(body) {
        Err(e) => vec![(e.to_string(), text(body, e.span()))],
        Ok(input) => validate::validate(input)
            .errors
            .iter()
            .map(|e| (e.to_string(), text(body, e.span())))
            .collect(),
    }
}

/// `body` gives exactly the errors `want` (message, underlined text), in order.
fn check(body: &str, want: &[(&str, &str)]) {
    let got = errors(body);
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(m, t)| ((*m).to_string(), (*t).to_string()))
        .collect();
    assert_eq!(got, want, "for {body}");
}

/// A well-formed network: no error, and what validation hands to the expansion.
#[test]
fn a_valid_network_validates_with_its_options() {
    let input = syn::parse_str::<ast::Input>(
        "pub Tagger<seq_len = 8, batch = 4, scalar = f64, mask_zero = true> = \
         Sequential[ LSTM(10, 20), Residual[ Linear(20, 20), Tanh ], Linear(20, 5), LogSoftMax ];",
    )
    .unwrap_or_else(|e| panic!("parses: {e}"));
    let v = validate::validate(input);
    assert!(v.errors.is_empty() && v.unknown.is_empty());
    let [net] = v.networks.as_slice() else {
        panic!("one network")
    };
    assert_eq!(
        (net.name.to_string(), net.seq_len, net.batch),
        ("Tagger".into(), 8, 4)
    );
    assert_eq!(net.scalar.to_string(), "f64");
    assert!(net.mask_zero && net.online && !net.unroll && !net.repeat);
    assert_eq!(net.body.len(), 4);
    assert!(matches!(net.body[1], crate::tree::Item::Residual(..)));
}

/// Names the registry does not know are left to the compiler (which suggests similar names),
/// not reported here.
#[test]
fn unknown_layers_are_left_to_the_compiler() {
    let v = validate::validate(
        syn::parse_str::<ast::Input>("pub A<seq_len = 8> = Sequential[ LTSM(10, 20) ];")
            .unwrap_or_else(|e| panic!("parses: {e}")),
    );
    assert!(v.errors.is_empty());
    assert_eq!(v.unknown.len(), 1);
    assert_eq!(v.unknown[0].to_string(), "LTSM");
}

/// The grammar's own errors: syn's, at the token where the input stops making sense.
#[test]
fn grammar_errors_point_at_the_token() {
    check(
        "pub A<seq_len = 8> Sequential[ LSTM(10, 20) ];",
        &[("expected `=`", "Sequential")],
    );
    check(
        "pub A<seq_len = 8> = Sequential[ LSTM(10, 20) ]",
        &[("expected `;`", "")],
    );
}

/// `tests/ui/fail/bad_mask_zero.rs`.
#[test]
fn bad_mask_zero() {
    check(
        r#"
    pub A<seq_len = 8, mask_zero = yes> = Sequential[ LSTM(10, 20) ];"#,
        &[("`mask_zero` takes `true` or `false`, found `yes`", "yes")],
    );
}

/// `tests/ui/fail/bad_options.rs`.
#[test]
fn bad_options() {
    check(
        r#"
    pub A<seq_len = 8, batches = 4, scalar = f16, unroll = yes, seq_len = 0> = Sequential[ LSTM(10, 20) ];"#,
        &[
            (
                "unknown option `batches`: expected `seq_len`, `batch`, `scalar`, `unroll`, `mask_zero`, `weights` or `names`",
                "batches",
            ),
            ("`scalar` must be `f32` or `f64`, found `f16`", "f16"),
            (
                "`unroll` takes `full` (straight-line time steps), found `yes`",
                "yes",
            ),
            ("`seq_len` must be at least 1", "0"),
            ("option `seq_len` is given twice", "seq_len"),
        ],
    );
}

/// `tests/ui/fail/bad_sizes.rs`.
#[test]
fn bad_sizes() {
    check(
        r#"
    pub A<seq_len = 8> = Sequential[ LSTM(10, 0), Linear(20.5, 5), Linear(n, 2), Dropout(1.5) ];"#,
        &[
            ("a size must be at least 1, found `0`", "0"),
            (
                "a size must be an integer literal or a constant (`const HIDDEN: usize = 20;`), found `20.5`",
                "20.5",
            ),
            ("`Dropout(p)` needs a number in [0, 1), found `1.5`", "1.5"),
        ],
    );
}

/// `tests/ui/fail/bisequencer_misuse.rs`.
#[test]
fn bisequencer_misuse() {
    check(
        r#"
    pub B<seq_len = 4, unroll = full> = Sequential[ Linear(2, 3), Sequential[ BiSequencer[ GRU(3, 3) ] ] ];
    pub C<seq_len = 4> = Repeater[ BiSequencer[ LSTM(3, 3) ] ];
    pub D<seq_len = 4> = BiSequencer[ LSTM(3, 3) ];
    pub E<seq_len = 4> = Sequential[ BiSequencer[ LSTM(10, 20) ], Linear(20, 5) ];"#,
        &[
            (
                "`unroll = full` runs the network one step at a time, but `BiSequencer[ ... ]` needs the whole sequence first (its backward direction starts at the last step): drop `unroll`",
                "BiSequencer",
            ),
            (
                "`Repeater[ ... ]` runs the network one step at a time, but `BiSequencer[ ... ]` needs the whole sequence first (its backward direction starts at the last step): use `Sequential[ ... ]` with the input repeated",
                "BiSequencer",
            ),
            (
                "a network's outermost container is `Sequential[ ... ]`: write `Sequential[ BiSequencer[ ... ] ]`",
                "BiSequencer",
            ),
        ],
    );
}

/// `tests/ui/fail/const_size_mismatch.rs`.
#[test]
fn const_size_mismatch() {
    check(
        r#"
    pub A<seq_len = 8> = Sequential[ LSTM(10, HIDDEN), Linear(WRONG, 5) ];
    pub B<seq_len = 8> = Sequential[ LSTM(10, ZERO) ];
    pub C<seq_len = 8> = Sequential[ Linear(10, HIDDEN + 1) ];"#,
        &[(
            "a size must be an integer literal or a constant (`const HIDDEN: usize = 20;`), found `HIDDEN + 1`",
            "HIDDEN + 1",
        )],
    );
}

/// `tests/ui/fail/empty_sequential.rs`.
#[test]
fn empty_sequential() {
    check(
        r#"
    pub A<seq_len = 8> = Sequential[];
    pub B<seq_len = 8> = Sequential[ LSTM(10, 20), Sequential[ ] ];"#,
        &[
            (
                "empty `Sequential[]`: a container needs at least one layer",
                "Sequential[]",
            ),
            (
                "empty `Sequential[]`: a container needs at least one layer",
                "Sequential[ ]",
            ),
        ],
    );
}

/// `tests/ui/fail/hostile_sizes.rs`.
#[test]
fn hostile_sizes() {
    check(
        r#"
    pub A<seq_len = 8> = Sequential[ LSTM(1, 4611686018427387904), Linear(4, 2) ];
    pub B<seq_len = 8, batch = 18446744073709551615> = Sequential[ GRU(3, 4) ];
    pub C<seq_len = 4611686018427387904> = Sequential[ Linear(3, 4) ];
    pub D<seq_len = 2000, unroll = full> = Sequential[ RNN(3, 4) ];
    pub E<seq_len = 8> = Sequential[ Linear(99999999999999999999999, 2) ];
    pub F<seq_len = 8> = Sequential[ Linear(1000000000, 1000000000) ];"#,
        &[
            (
                "`LSTM(1, 4611686018427387904)` is too large: its weights would have more than 4503599627370496 elements, more than rustc and this platform allow",
                "LSTM(1, 4611686018427387904)",
            ),
            (
                "`GRU(3, 4)` is too large for `seq_len * batch` columns: the values of a sequence would have more than 4503599627370496 elements",
                "GRU(3, 4)",
            ),
            (
                "`Linear(3, 4)` is too large for `seq_len * batch` columns: the values of a sequence would have more than 4503599627370496 elements",
                "Linear(3, 4)",
            ),
            (
                "`unroll = full` writes every step out as straight-line code, which grows the build with `seq_len`; it takes at most 1024 steps, found 2000: drop `unroll` (the time loop builds as fast at any length)",
                "D",
            ),
            (
                "number too large to fit in target type",
                "99999999999999999999999",
            ),
            (
                "`Linear(1000000000, 1000000000)` is too large: its weights would have more than 4503599627370496 elements, more than rustc and this platform allow",
                "Linear(1000000000, 1000000000)",
            ),
        ],
    );
}

/// `tests/ui/fail/lookup_edge_cases.rs`.
#[test]
fn lookup_edge_cases() {
    check(
        r#"
    pub A<seq_len = 4> = Sequential[ BiSequencer[], Linear(3, 3) ];
    pub B<seq_len = 4> = Sequential[ LookupTable(0, 3), LSTM(3, 3) ];
    pub C<seq_len = 4> = Sequential[ LookupTable(10, 3, padding = 99999999999999999999999), LSTM(3, 3) ];
    pub D<seq_len = 4> = Sequential[ Embedding(10, 3, padding = -1), LSTM(3, 3) ];
    pub E<seq_len = 4> = Sequential[ LookupTable(10, 3, padding = 0, 1), LSTM(3, 3) ];
    pub F<seq_len = 4> = Sequential[ LookupTable(10, 3, pad = 0), LSTM(3, 3) ];
    pub G<seq_len = 4> = Sequential[ LookupTable(18446744073709551615, 4611686018427387904), LSTM(3, 3) ];
    pub H<seq_len = 4> = Sequential[ LookupTable, LSTM(3, 3) ];"#,
        &[
            (
                "empty `BiSequencer[]`: a container needs at least one layer",
                "BiSequencer[]",
            ),
            ("a size must be at least 1, found `0`", "0"),
            (
                "number too large to fit in target type",
                "99999999999999999999999",
            ),
            ("the padding index must be an integer literal", "-1"),
            (
                "`LookupTable` takes 2 sizes `LookupTable(vocab, dim)` (and optionally `padding = index`), got 4",
                "LookupTable(10, 3, padding = 0, 1)",
            ),
            (
                "the third argument of `LookupTable` is the padding index: `padding = 0`",
                "pad = 0",
            ),
            (
                "`LookupTable(18446744073709551615, 4611686018427387904)` is too large: its weights would have more than 4503599627370496 elements, more than rustc and this platform allow",
                "LookupTable(18446744073709551615, 4611686018427387904)",
            ),
            (
                "`LookupTable` takes 2 sizes `LookupTable(vocab, dim)` (and optionally `padding = index`), got 0",
                "LookupTable",
            ),
        ],
    );
}

/// `tests/ui/fail/lookup_misuse.rs`.
#[test]
fn lookup_misuse() {
    check(
        r#"
    pub A<seq_len = 4> = Sequential[ Linear(3, 3), LookupTable(10, 3) ];
    pub B<seq_len = 4> = Sequential[ BiSequencer[ LookupTable(10, 3), LSTM(3, 3) ] ];
    pub C<seq_len = 4> = Sequential[ Embedding(10, 3) ];
    pub D<seq_len = 4> = Sequential[ LookupTable(10, 3, padding = 10), LSTM(3, 3) ];
    pub E<seq_len = 4> = Sequential[ LookupTable(10, 3, 0), LSTM(3, 3) ];
    pub F<seq_len = 4> = Sequential[ LookupTable(10), LSTM(3, 3) ];"#,
        &[
            (
                "`LookupTable` reads token indices, so it can only be the first layer of the network, not inside it",
                "LookupTable(10, 3)",
            ),
            (
                "`LookupTable` reads token indices, so it can only be the first layer of the network, not inside it",
                "LookupTable(10, 3)",
            ),
            (
                "`Embedding` needs layers after it: it only looks vectors up",
                "Embedding(10, 3)",
            ),
            (
                "the padding index 10 is not a token: the vocabulary is 0..10",
                "10",
            ),
            (
                "the third argument of `LookupTable` is the padding index: `padding = 0`",
                "0",
            ),
            (
                "`LookupTable` takes 2 sizes `LookupTable(vocab, dim)` (and optionally `padding = index`), got 1",
                "LookupTable(10)",
            ),
        ],
    );
}

/// `tests/ui/fail/missing_seq_len.rs`.
#[test]
fn missing_seq_len() {
    check(
        r#"
    pub A<batch = 4> = Sequential[ LSTM(10, 20) ];
    pub B = Sequential[ LSTM(10, 20) ];"#,
        &[
            (
                "missing `seq_len`: write `A<seq_len = N>` (the number of time steps)",
                "A",
            ),
            (
                "missing `seq_len`: write `B<seq_len = N>` (the number of time steps)",
                "B",
            ),
        ],
    );
}

/// `tests/ui/fail/repeater_misuse.rs`.
#[test]
fn repeater_misuse() {
    check(
        r#"
    pub A<seq_len = 4> = Sequential[ Linear(3, 3), Repeater[ LSTM(3, 3) ] ];
    pub B<seq_len = 4, unroll = full> = Repeater[ LSTM(3, 3) ];"#,
        &[
            (
                "`Repeater[ ... ]` feeds one input to every step of the network: it can only be the outermost container",
                "Repeater",
            ),
            (
                "`Repeater[ ... ]` runs its steps as a loop: drop `unroll = full`",
                "Repeater",
            ),
        ],
    );
}

/// `tests/ui/fail/residual_misuse.rs` (its second block: the first is the compiler's shape
/// error).
#[test]
fn residual_misuse() {
    check(
        r#"
    pub B<seq_len = 4> = Residual[ Linear(3, 3) ];
    pub C<seq_len = 4> = Sequential[ Linear(3, 3), Residual(Linear(3, 3)) ];"#,
        &[
            (
                "a network's outermost container is `Sequential[ ... ]`: write `Sequential[ Residual[ ... ] ]`",
                "Residual",
            ),
            (
                "`Residual` takes its layers in brackets: `Residual[ ... ]`",
                "Residual(Linear(3, 3))",
            ),
        ],
    );
}

/// `tests/ui/fail/size_free_first.rs`.
#[test]
fn size_free_first() {
    check(
        r#"
    pub A<seq_len = 8> = Sequential[ LogSoftMax, Linear(5, 5) ];
    pub B<seq_len = 8> = Sequential[ Sequential[ Tanh ], Linear(5, 5) ];"#,
        &[
            (
                "`LogSoftMax` takes its size from the previous layer, so it cannot come first: start with a layer that has sizes, such as `Linear(in, out)`",
                "LogSoftMax",
            ),
            (
                "`Tanh` takes its size from the previous layer, so it cannot come first: start with a layer that has sizes, such as `Linear(in, out)`",
                "Tanh",
            ),
        ],
    );
}

/// `tests/ui/fail/too_deep.rs`.
#[test]
fn too_deep() {
    check(
        r#"
    pub Deep<seq_len = 2> = Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Linear(2, 2) ] ] ] ] ] ] ] ] ] ] ] ] ] ] ] ] ];"#,
        &[(
            "`Sequential` nested 17 levels deep: parameter names hold at most 16 levels of layer indices",
            "Sequential",
        )],
    );
}

/// `tests/ui/fail/too_many_layers.rs`.
#[test]
fn too_many_layers() {
    check(
        r#"
    pub Deep<seq_len = 2> = Sequential[
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4)
    ];"#,
        &[(
            "`Deep` has 129 layers; a network holds at most 128: the debug information of its generated types grows with the square of the layer count (128 layers take about 20 s and 4 GB of memory to build in a debug build)",
            "Deep",
        )],
    );
}

/// `tests/ui/fail/wrong_argument_count.rs`.
#[test]
fn wrong_argument_count() {
    check(
        r#"
    pub A<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20), LogSoftMax ];
    pub B<seq_len = 8> = Sequential[ GRU(10, 20, 30), Tanh(20), Dropout ];"#,
        &[
            (
                "`Linear` takes 2 sizes `Linear(in, out)`, got 1",
                "Linear(20)",
            ),
            (
                "`GRU` takes 2 sizes `GRU(in, hidden)`, got 3",
                "GRU(10, 20, 30)",
            ),
            (
                "`Tanh` takes no arguments: its size is the previous layer's",
                "Tanh(20)",
            ),
            ("`Dropout` takes one probability `Dropout(p)`", "Dropout"),
        ],
    );
}

/// A directory of its own under the system's temporary directory, for files a test writes.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rnn-macros-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// A safetensors file of `tensors` (name, dtype, shape, little-endian bytes), written by hand.
fn safetensors(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (k, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let shape: Vec<String> = shape.iter().map(ToString::to_string).collect();
        header += &format!(
            "{}\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            if k == 0 { "" } else { "," },
            shape.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend_from_slice(bytes);
    }
    header += "}";
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// The `weights` limit: a larger file is refused before it is read, and the message says why
/// and what to do instead.
#[test]
fn a_weights_file_above_the_limit_is_refused_with_the_limit_named() {
    let dir = scratch("large");
    let path = dir.join("large.safetensors");
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    // Sparse: no 64 MiB written.
    file.set_len(crate::weights::FILE_LIMIT + 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let body = format!(
        "pub A<seq_len = 4, weights = \"{}\"> = Sequential[ Linear(2, 3) ];",
        path.display()
    );
    let got = errors(&body);
    assert_eq!(got.len(), 1, "{got:?}");
    let (message, underlined) = &got[0];
    assert!(
        message.contains("67108865 bytes, more than the 67108864 bytes (64 MiB)")
            && message.contains("load it at run time instead"),
        "{message}"
    );
    assert_eq!(underlined, &format!("\"{}\"", path.display()));
    std::fs::remove_dir_all(dir).ok();
}

/// An `f64` file into an `f32` network with `convert_dtype`: a finite value beyond `f32`'s
/// range is an error naming the tensor and element (as the run-time loader's); one in range
/// is accepted.
#[test]
fn a_conversion_that_overflows_is_a_build_error() {
    let dir = scratch("overflow");
    let f64s = |xs: &[f64]| xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for (name, bias, bad) in [("ok", 1.5e38, false), ("bad", 1e300, true)] {
        let path = dir.join(format!("{name}.safetensors"));
        let bytes = safetensors(&[
            ("0.weight", "F64", &[3, 2], f64s(&[0.5; 6])),
            ("0.bias", "F64", &[3], f64s(&[0.0, bias, 1.0])),
        ]);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        let body = format!(
            "pub A<seq_len = 4, weights = \"{}\", names = [convert_dtype]> = \
             Sequential[ Linear(2, 3) ];",
            path.display()
        );
        let got = errors(&body);
        if bad {
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(
                got[0].0.contains(
                    "`0.bias` element 1 is beyond the range of the network's F32 (converted \
                     from F64)"
                ),
                "{}",
                got[0].0
            );
        } else {
            assert!(got.is_empty(), "{got:?}");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A layer described by a `Shape` (`Conv1d(in, out, kernel, dilation = d)`): its sizes, its
/// options with their defaults, and the products its Rust type takes.
#[test]
fn a_shaped_layer_validates_with_its_options() {
    let input = syn::parse_str::<ast::Input>(
        "pub W<seq_len = 8> = Sequential[ Conv1d(3, 4, 3, dilation = 2), Conv1d(4, 2, 5) ];",
    )
    .unwrap_or_else(|e| panic!("parses: {e}"));
    let v = validate::validate(input);
    assert!(v.errors.is_empty() && v.unknown.is_empty());
    let values: Vec<Vec<Option<usize>>> = v.networks[0]
        .body
        .iter()
        .map(|it| match it {
            crate::tree::Item::Leaf(l) => l.values().into_iter().map(|s| s.value()).collect(),
            _ => panic!("a layer"),
        })
        .collect();
    // The second one's dilation is the default, 1.
    assert_eq!(
        values,
        [
            [Some(3), Some(4), Some(3), Some(2)],
            [Some(4), Some(2), Some(5), Some(1)]
        ]
    );
    let rnn_format::layers::Kind::Shaped(shape) = rnn_format::layers::lookup("Conv1d")
        .unwrap_or_else(|| panic!("registered"))
        .kind
    else {
        panic!("shaped")
    };
    // Conv1d<S, 3, 4, 3, 2, 9, 12>: the largest argument is in * (kernel - 1) * dilation.
    assert_eq!(crate::args::largest_arg(shape, &[3, 4, 3, 2]), Some(12));
    assert_eq!(
        crate::args::largest_arg(shape, &[usize::MAX, 4, 3, 2]),
        None
    );
}

/// Every error of a shaped layer's arguments, each at its tokens.
#[test]
fn bad_shaped_arguments() {
    let usage = "`Conv1d(in, out, kernel)`, optionally followed by `dilation = 1`";
    check(
        "pub W<seq_len = 8> = Sequential[ Conv1d(3, 4) ];",
        &[(
            &format!("`Conv1d` takes 3 sizes {usage}, got 2"),
            "Conv1d(3, 4)",
        )],
    );
    check(
        "pub W<seq_len = 8> = Sequential[ Conv1d(3, 4, 2, dilatation = 2) ];",
        &[(
            &format!("`Conv1d` has no option `dilatation`: {usage}"),
            "dilatation",
        )],
    );
    check(
        "pub W<seq_len = 8> = Sequential[ Conv1d(3, 4, 2, dilation = 2, dilation = 3) ];",
        &[("option `dilation` is given twice", "dilation = 3")],
    );
    check(
        "pub W<seq_len = 8> = Sequential[ Conv1d(3, 4, 2, dilation = 2, 5) ];",
        &[(&format!("sizes come before options: {usage}"), "5")],
    );
    check(
        "pub W<seq_len = 8> = Sequential[ Conv1d(3, 0, 2, dilation = 0) ];",
        &[
            ("a size must be at least 1, found `0`", "0"),
            ("a size must be at least 1, found `0`", "0"),
        ],
    );
    check(
        "pub W<seq_len = 8> = Sequential[ Conv1d(4294967296, 2, 2) ];",
        &[(
            "`Conv1d(4294967296, 2, 2, 1)` is too large: a matrix of its largest size squared \
             would have more than 4503599627370496 elements, more than rustc and this platform \
             allow",
            "Conv1d(4294967296, 2, 2)",
        )],
    );
    check(
        "pub W<seq_len = 1048576, batch = 1048576> = Sequential[ Conv1d(3, 4, 5000) ];",
        &[(
            "`Conv1d` is too large for `seq_len * batch` columns: the values of a sequence \
             would have more than 4503599627370496 elements",
            "Conv1d(3, 4, 5000)",
        )],
    );
}
