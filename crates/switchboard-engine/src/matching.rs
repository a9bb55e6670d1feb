//! URI pattern index (exact, prefix, wildcard).
