//! Concord's cost/accuracy simulator.
//!
//! A simulated pool of experts ([`pool`]) labels a simulated project through the real engine:
//! [`concord_core::Core`] on a real SQLite store, with the project's overlap policy deciding who
//! labels what and when an item is settled, background skill re-fits, and the project's
//! truth-inference method for the final consensus ([`run`]). Nothing of the engine is copied,
//! so what the simulator measures is what a project with such experts would get.
//! [`sweep`] runs several policies and draws accuracy against cost.
//!
//! Adaptive overlap follows Sheng, Provost & Ipeirotis, "Get another label?" (KDD 2008,
//! doi:10.1145/1401890.1401965); the consensus, Dawid & Skene (1979, doi:10.2307/2346806) and
//! the other methods of `concord-consensus`.

#![warn(missing_docs)]

pub mod pool;
pub mod run;
pub mod sweep;

pub use pool::{Pool, PoolError, SimAnnotator};
pub use run::{SimError, SimReport, Simulation, simulate};
