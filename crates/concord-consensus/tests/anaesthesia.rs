//! Dawid & Skene's 1979 anaesthesia data: 45 patients, 5 clinicians, repeated reads.
// Filled in by the Dawid–Skene work; see docs/roadmap.md.
