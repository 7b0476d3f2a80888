use rnn_core::prelude::*;

// Each level of nesting is one index in a parameter's name; 16 levels are the most.
network! {
    pub Deep<seq_len = 2> = Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Sequential[ Linear(2, 2) ] ] ] ] ] ] ] ] ] ] ] ] ] ] ] ] ];
}

fn main() {}
