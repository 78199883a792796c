//! The UI in headless Chromium (filled in below).
