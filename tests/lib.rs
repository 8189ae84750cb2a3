//! Empty: the multi-process tests live in `tests/`, their helpers in `tests/util/`.
