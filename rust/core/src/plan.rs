//! Loaded Plan: role selection, validation, dense slots and free-after-last-use lists.
