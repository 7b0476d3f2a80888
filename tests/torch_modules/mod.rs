//! The networks of `tools/torch_state_dicts.py`'s PyTorch modules, for the tests that load
//! those modules' files (`state_dicts.rs`: their `state_dict`s; `onnx.rs`: their ONNX exports).

use rnn_core::prelude::*;

network! {
    /// `self.rnn = nn.LSTM(10, 20); self.head = nn.Linear(20, 5)`, log-softmax.
    pub Seed<seq_len = 5, batch = 2> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// `self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True); self.out = nn.Linear(6, 3)`.
    pub Stacked<seq_len = 5, batch = 2> = Sequential[ LSTM(4, 6), LSTM(6, 6), Linear(6, 3) ];
    /// `self.gru = nn.GRU(1, 16, batch_first=True); self.dense = nn.Linear(16, 1)`.
    pub Amp<seq_len = 8> = Sequential[ GRU(1, 16), Linear(16, 1) ];
    /// `self.lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True);
    /// self.head = nn.Linear(8, 2)`.
    pub Bi<seq_len = 6, batch = 2> = Sequential[
        BiSequencer[ LSTM(3, 4) ],
        BiSequencer[ LSTM(8, 4) ],
        Linear(8, 2)
    ];
    /// `self.emb = nn.Embedding(7, 3, padding_idx=0); self.rnn = nn.LSTM(3, 5);
    /// self.out = nn.Linear(5, 7)`.
    pub Emb<seq_len = 5, batch = 3> =
        Sequential[ LookupTable(7, 3, padding = 0), LSTM(3, 5), Linear(5, 7) ];
    /// README's guitar-amp model: `self.rec = nn.LSTM(1, 16); self.lin = nn.Linear(16, 1)`,
    /// `forward = lin(rec(x)) + x`.
    pub AmpResidual<seq_len = 12, batch = 2> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}
