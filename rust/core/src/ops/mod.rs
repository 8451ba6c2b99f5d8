//! Op registry (name -> builder) and the op families of both dialects.
