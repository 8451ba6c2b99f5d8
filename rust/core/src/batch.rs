//! Samplers and batch assembly for the DataLoader (seedable shuffle, row gathers).
