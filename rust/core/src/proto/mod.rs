//! prost structs for the syft-proto 0.5.3 messages (derive only, no build script) and conversions.
