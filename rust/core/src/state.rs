//! State <-> tensors: model parameters, diffs (original − trained) and their serialization.
