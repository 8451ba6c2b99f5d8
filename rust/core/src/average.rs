//! FedAvg: mean of model diffs and its application to a checkpoint.
