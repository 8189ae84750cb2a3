//! Unit tests of the core: inputs with an explicit time, outputs checked.
