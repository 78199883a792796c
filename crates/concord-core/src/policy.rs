//! Project settings and the assignment policy: how many experts an item needs, when the
//! consensus is good enough, and when an item goes to adjudication.
//!
//! Adaptive overlap follows Sheng, Provost & Ipeirotis, "Get another label?" (KDD 2008,
//! doi:10.1145/1401890.1401965): ask one more expert only while the item is still uncertain.

use concord_store::{ItemDecision, ItemPhase};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How many labels each item gets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Overlap {
    /// Every item gets exactly `k` labels (`fixed:K`).
    Fixed {
        /// Labels per item.
        k: u32,
    },
    /// `adaptive:MIN..MAX@THRESHOLD`: after `min` labels, one more expert is asked only while
    /// the posterior of the top class is below `threshold`; at `max` the item goes to
    /// adjudication.
    Adaptive {
        /// Labels every item gets.
        min: u32,
        /// Labels after which an uncertain item goes to adjudication.
        max: u32,
        /// Posterior of the top class that counts as settled.
        threshold: f64,
    },
    /// `cost:BUDGET[@THRESHOLD]`: every item gets two reads; then, while the top class's
    /// posterior is below `threshold` (default 0.95) and the item's budget allows, one more
    /// read from the expert with the most expected information per unit of cost (cost-aware
    /// routing: cheap readers first, senior readers only while the item stays uncertain); an
    /// item whose budget cannot pay for another read goes to adjudication.
    Cost {
        /// The most an item may cost, in the unit of the annotators' costs per label.
        budget: f64,
        /// Posterior of the top class that counts as settled.
        threshold: f64,
    },
}

/// Reads every item gets under the cost policy before it can be settled (blinded double
/// reading).
pub const COST_MIN_READS: u32 = 2;

impl Overlap {
    /// Labels a new item needs.
    pub fn initial(&self) -> u32 {
        match *self {
            Overlap::Fixed { k } => k,
            Overlap::Adaptive { min, .. } => min,
            Overlap::Cost { .. } => COST_MIN_READS,
        }
    }

    /// The cap on labels per item.
    pub fn max(&self) -> u32 {
        match *self {
            Overlap::Fixed { k } => k,
            Overlap::Adaptive { max, .. } => max,
            Overlap::Cost { .. } => u32::MAX,
        }
    }

    /// Decides an item's next state from its label count and the current consensus.
    ///
    /// `accept`: for fixed overlap, the confidence below which a fully labelled item goes to
    /// adjudication (`None`: never). `top`: the consensus label and its posterior, or `None`
    /// when no label carries class evidence yet (only "uncertain" answers). `affordable`: for
    /// the cost policy, whether the item's remaining budget pays for another read by someone
    /// who has not read it (ignored otherwise).
    pub fn decide(
        &self,
        n_labels: u32,
        top: Option<(serde_json::Value, f64)>,
        accept: Option<f64>,
        affordable: bool,
    ) -> ItemDecision {
        let (label, confidence) = match &top {
            Some((l, c)) => (Some(l.clone()), Some(*c)),
            None => (None, None),
        };
        let open = |needed: u32| ItemDecision {
            needed: i64::from(needed),
            phase: ItemPhase::Open,
            label: label.clone(),
            confidence,
            reason: None,
        };
        let settled = |phase: ItemPhase, reason: Option<String>| ItemDecision {
            needed: i64::from(n_labels),
            phase,
            label: label.clone(),
            confidence,
            reason,
        };
        match *self {
            Overlap::Fixed { k } => {
                if n_labels < k {
                    return open(k);
                }
                match (accept, confidence) {
                    (Some(t), Some(c)) if c < t => settled(
                        ItemPhase::Adjudication,
                        Some(format!(
                            "confidence {c:.3} below {t} after {n_labels} labels"
                        )),
                    ),
                    (Some(_), None) => settled(
                        ItemPhase::Adjudication,
                        Some(format!("no class evidence after {n_labels} labels")),
                    ),
                    _ => settled(ItemPhase::Complete, None),
                }
            }
            Overlap::Adaptive {
                min,
                max,
                threshold,
            } => {
                if n_labels < min {
                    return open(min);
                }
                match confidence {
                    Some(c) if c >= threshold => settled(ItemPhase::Complete, None),
                    _ if n_labels < max => open(n_labels + 1),
                    Some(c) => settled(
                        ItemPhase::Adjudication,
                        Some(format!(
                            "confidence {c:.3} below {threshold} after {n_labels} labels"
                        )),
                    ),
                    None => settled(
                        ItemPhase::Adjudication,
                        Some(format!("no class evidence after {n_labels} labels")),
                    ),
                }
            }
            Overlap::Cost { budget, threshold } => {
                if n_labels < COST_MIN_READS {
                    return open(COST_MIN_READS);
                }
                match confidence {
                    Some(c) if c >= threshold => settled(ItemPhase::Complete, None),
                    _ if affordable => open(n_labels + 1),
                    Some(c) => settled(
                        ItemPhase::Adjudication,
                        Some(format!(
                            "confidence {c:.3} below {threshold} and the budget of {budget} \
                             cannot pay for another read"
                        )),
                    ),
                    None => settled(
                        ItemPhase::Adjudication,
                        Some(format!(
                            "no class evidence and the budget of {budget} cannot pay for another read"
                        )),
                    ),
                }
            }
        }
    }
}

impl FromStr for Overlap {
    type Err = String;

    /// Parses `fixed:K`, `adaptive:MIN..MAX@THRESHOLD` or `cost:BUDGET[@THRESHOLD]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = "expected `fixed:K` (e.g. fixed:3), `adaptive:MIN..MAX@THRESHOLD` (e.g. adaptive:2..5@0.95) or `cost:BUDGET[@THRESHOLD]` (e.g. cost:12@0.95)";
        if let Some(rest) = s.strip_prefix("cost:") {
            let (budget, threshold) = rest.split_once('@').unwrap_or((rest, "0.95"));
            let budget: f64 = budget.parse().map_err(|_| format!("`{s}`: {usage}"))?;
            let threshold: f64 = threshold.parse().map_err(|_| format!("`{s}`: {usage}"))?;
            if !(budget.is_finite() && budget > 0.0) {
                return Err(format!("`{s}`: BUDGET must be positive"));
            }
            if !(threshold > 0.0 && threshold <= 1.0) {
                return Err(format!("`{s}`: THRESHOLD must be in (0, 1]"));
            }
            return Ok(Overlap::Cost { budget, threshold });
        }
        if let Some(k) = s.strip_prefix("fixed:") {
            let k: u32 = k.parse().map_err(|_| format!("`{s}`: {usage}"))?;
            if k == 0 {
                return Err(format!("`{s}`: an item needs at least one label"));
            }
            return Ok(Overlap::Fixed { k });
        }
        if let Some(rest) = s.strip_prefix("adaptive:") {
            let (range, threshold) = rest
                .split_once('@')
                .ok_or_else(|| format!("`{s}`: {usage}"))?;
            let (min, max) = range
                .split_once("..")
                .ok_or_else(|| format!("`{s}`: {usage}"))?;
            let min: u32 = min.parse().map_err(|_| format!("`{s}`: {usage}"))?;
            let max: u32 = max.parse().map_err(|_| format!("`{s}`: {usage}"))?;
            let threshold: f64 = threshold.parse().map_err(|_| format!("`{s}`: {usage}"))?;
            if min == 0 || max < min {
                return Err(format!("`{s}`: need 1 <= MIN <= MAX"));
            }
            if !(threshold > 0.0 && threshold <= 1.0) {
                return Err(format!("`{s}`: THRESHOLD must be in (0, 1]"));
            }
            return Ok(Overlap::Adaptive {
                min,
                max,
                threshold,
            });
        }
        Err(format!("`{s}`: {usage}"))
    }
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overlap::Fixed { k } => write!(f, "fixed:{k}"),
            Overlap::Adaptive {
                min,
                max,
                threshold,
            } => write!(f, "adaptive:{min}..{max}@{threshold}"),
            Overlap::Cost { budget, threshold } => write!(f, "cost:{budget}@{threshold}"),
        }
    }
}

/// The qualification gate: a new annotator first answers `n` gold items and must reach
/// `accuracy` on them before real work.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Qualification {
    /// Gold items to answer.
    pub n: u32,
    /// Accuracy required.
    pub accuracy: f64,
}

impl FromStr for Qualification {
    type Err = String;

    /// Parses `N@ACCURACY`, e.g. `10@0.8`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = format!("`{s}`: expected N@ACCURACY, e.g. 10@0.8");
        let (n, accuracy) = s.split_once('@').ok_or_else(|| usage.clone())?;
        let n: u32 = n.parse().map_err(|_| usage.clone())?;
        let accuracy: f64 = accuracy.parse().map_err(|_| usage.clone())?;
        if n == 0 || !(0.0..=1.0).contains(&accuracy) {
            return Err(format!("`{s}`: need N >= 1 and ACCURACY in [0, 1]"));
        }
        Ok(Qualification { n, accuracy })
    }
}

/// Automatic quality rules: an annotator whose recent gold accuracy falls below a bound is put
/// on probation (more gold items) or suspended (no work until a manager reinstates them).
/// Every change is an audited `enrolment.update` event with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityRules {
    /// The most recent gold answers the rules look at.
    pub window: u32,
    /// Gold answers needed in the window before a rule applies.
    pub min_gold: u32,
    /// Probation below this accuracy on the window.
    pub probation_below: f64,
    /// Suspension below this accuracy (at most `probation_below`).
    pub suspend_below: f64,
    /// Share of assignments that are gold while on probation.
    pub probation_gold_rate: f64,
    /// The weight of a label given on probation, in (0, 1]: its likelihood is raised to this
    /// power in every posterior (after each submission and in consensus runs), so it counts
    /// as this fraction of a label of the same measured skill.
    #[serde(default = "default_probation_weight")]
    pub probation_weight: f64,
}

fn default_probation_weight() -> f64 {
    0.5
}

impl Default for QualityRules {
    fn default() -> Self {
        Self {
            window: 20,
            min_gold: 10,
            probation_below: 0.7,
            suspend_below: 0.0,
            probation_gold_rate: 0.3,
            probation_weight: default_probation_weight(),
        }
    }
}

impl QualityRules {
    /// The standing that `correct` right answers out of the `n` most recent imply, or `None`
    /// while there are too few.
    pub fn judge(&self, correct: u32, n: u32) -> Option<(concord_store::Phase, f64)> {
        if n < self.min_gold.max(1) {
            return None;
        }
        let accuracy = f64::from(correct) / f64::from(n);
        let phase = if accuracy < self.suspend_below {
            concord_store::Phase::Suspended
        } else if accuracy < self.probation_below {
            concord_store::Phase::Probation
        } else {
            concord_store::Phase::Qualified
        };
        Some((phase, accuracy))
    }

    fn check(&self) -> Result<(), String> {
        if self.window == 0 || self.min_gold > self.window {
            return Err(format!(
                "quality rules: need 1 <= min gold ({}) <= window ({})",
                self.min_gold, self.window
            ));
        }
        for (name, v) in [
            ("probation bound", self.probation_below),
            ("suspension bound", self.suspend_below),
            ("probation gold rate", self.probation_gold_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!(
                    "quality rules: the {name} must be in [0, 1], got {v}"
                ));
            }
        }
        if !(self.probation_weight > 0.0 && self.probation_weight <= 1.0) {
            return Err(format!(
                "quality rules: the probation weight must be in (0, 1], got {}",
                self.probation_weight
            ));
        }
        if self.suspend_below > self.probation_below {
            return Err(format!(
                "quality rules: the suspension bound {} is above the probation bound {}",
                self.suspend_below, self.probation_below
            ));
        }
        Ok(())
    }
}

/// A project's settings, stored as JSON with the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Labels per item.
    pub overlap: Overlap,
    /// Share of an annotator's assignments that are gold items (0 to 1).
    pub gold_rate: f64,
    /// Truth-inference method of consensus runs (a `concord aggregate` method name).
    pub method: String,
    /// The qualification gate, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualify: Option<Qualification>,
    /// For fixed overlap: fully labelled items below this confidence go to adjudication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<f64>,
    /// Seconds an annotator holds a leased item.
    pub lease_seconds: u32,
    /// New labels after which skills are re-fitted in the background.
    pub refit_every: u32,
    /// Seed of consensus runs.
    pub seed: u64,
    /// Automatic probation and suspension, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<QualityRules>,
    /// Gold answers per annotator and 24 hours that show the reference answer after
    /// submission (`None`: every one), so the gold set cannot be harvested wholesale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_feedback_per_day: Option<u32>,
    /// Retire a gold item (never serve it again) once this many annotators have answered it
    /// (`None`: never), so over-exposed gold leaves the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_gold_after: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            overlap: Overlap::Fixed { k: 3 },
            gold_rate: 0.0,
            method: "ds".into(),
            qualify: None,
            accept: None,
            lease_seconds: 3600,
            refit_every: 500,
            seed: 0,
            rules: None,
            gold_feedback_per_day: None,
            retire_gold_after: None,
        }
    }
}

impl Settings {
    /// Checks ranges and the method name.
    ///
    /// # Errors
    /// A message naming the setting.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.gold_rate) {
            return Err(format!(
                "gold rate must be in [0, 1], got {}",
                self.gold_rate
            ));
        }
        if let Some(a) = self.accept
            && !(0.0..=1.0).contains(&a)
        {
            return Err(format!("accept threshold must be in [0, 1], got {a}"));
        }
        self.method
            .parse::<concord_consensus::truth::Method>()
            .map_err(|e| e.to_string())?;
        if self.lease_seconds == 0 {
            return Err("lease seconds must be positive".into());
        }
        if let Some(rules) = &self.rules {
            rules.check()?;
        }
        if self.retire_gold_after == Some(0) {
            return Err("retire gold after must be at least 1 answer".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_and_print() {
        for s in ["fixed:3", "adaptive:2..5@0.95"] {
            assert_eq!(s.parse::<Overlap>().unwrap().to_string(), s);
        }
        for bad in [
            "fixed:0",
            "fixed:x",
            "adaptive:3..2@0.9",
            "adaptive:2..5@1.5",
            "adaptive:2..5",
            "many",
        ] {
            assert!(bad.parse::<Overlap>().is_err(), "{bad}");
        }
        assert_eq!(
            "10@0.8".parse::<Qualification>().unwrap(),
            Qualification {
                n: 10,
                accuracy: 0.8
            }
        );
        assert!("0@0.8".parse::<Qualification>().is_err());
    }

    #[test]
    fn adaptive_asks_one_more_while_uncertain() {
        let policy: Overlap = "adaptive:2..4@0.9".parse().unwrap();
        let top = |c: f64| Some((json!("a"), c));
        let d = policy.decide(1, top(0.99), None, true);
        assert_eq!((d.phase, d.needed), (ItemPhase::Open, 2));
        let d = policy.decide(2, top(0.95), None, true);
        assert_eq!((d.phase, d.needed), (ItemPhase::Complete, 2));
        let d = policy.decide(2, top(0.6), None, true);
        assert_eq!((d.phase, d.needed), (ItemPhase::Open, 3));
        let d = policy.decide(4, top(0.6), None, true);
        assert_eq!(d.phase, ItemPhase::Adjudication);
        assert!(d.reason.unwrap().contains("below 0.9 after 4 labels"));
        let d = policy.decide(4, None, None, true);
        assert_eq!(d.phase, ItemPhase::Adjudication);
    }

    #[test]
    fn cost_reads_twice_then_while_uncertain_and_affordable() {
        let policy: Overlap = "cost:10".parse().unwrap();
        assert_eq!(policy.to_string(), "cost:10@0.95");
        let top = |c: f64| Some((json!("a"), c));
        let d = policy.decide(1, top(0.99), None, true);
        assert_eq!((d.phase, d.needed), (ItemPhase::Open, 2));
        assert_eq!(
            policy.decide(2, top(0.97), None, true).phase,
            ItemPhase::Complete
        );
        let d = policy.decide(2, top(0.6), None, true);
        assert_eq!((d.phase, d.needed), (ItemPhase::Open, 3));
        let d = policy.decide(5, top(0.6), None, false);
        assert_eq!(d.phase, ItemPhase::Adjudication);
        assert!(d.reason.unwrap().contains("budget of 10"));
        for bad in ["cost:0", "cost:x", "cost:5@1.5"] {
            assert!(bad.parse::<Overlap>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fixed_with_and_without_accept() {
        let policy = Overlap::Fixed { k: 3 };
        assert_eq!(
            policy
                .decide(2, Some((json!("a"), 0.5)), Some(0.8), true)
                .phase,
            ItemPhase::Open
        );
        assert_eq!(
            policy.decide(3, Some((json!("a"), 0.5)), None, true).phase,
            ItemPhase::Complete
        );
        assert_eq!(
            policy
                .decide(3, Some((json!("a"), 0.5)), Some(0.8), true)
                .phase,
            ItemPhase::Adjudication
        );
    }
}
