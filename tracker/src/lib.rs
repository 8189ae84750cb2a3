//! natter tracker (placeholder).
