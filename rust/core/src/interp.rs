//! Per-run interpreter state: the slot vector and the run loop over a loaded Plan.
