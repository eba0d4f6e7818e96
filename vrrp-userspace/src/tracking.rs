//! Health checks and tracking (keepalived's `vrrp_track.c`), pure: what each instance
//! tracks after keepalived's sync-group and owner rules, the rise/fall counting of script
//! results, and the effective priority and faults that the tracked things' states give.
//! The controller feeds results in and turns the differences into `fsm` events.
use std::collections::{BTreeSet, HashMap};

use crate::{config::Config, fsm::FaultReason};

/// What is tracked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Script(String),
    Interface(String),
    File(String),
}

/// One tracked thing of an instance: weight 0 means FAULT on failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub source: Source,
    pub weight: i32,
    pub reverse: bool,
}

/// keepalived's script result counter (`vrrp_script_child_thread`): `result` runs from 0
/// to rise + fall − 1; at rise or above the script is good. It starts at rise − 1 ("one
/// success is enough", and the first failure counts at once), or at 0 with `init_fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    rise: u32,
    fall: u32,
    result: u32,
    /// No result yet (keepalived's SCRIPT_INIT_STATE_INIT).
    init: bool,
}

impl Counter {
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Self {
            rise,
            fall,
            result: if init_fail { 0 } else { rise - 1 },
            init: !init_fail,
        }
    }

    /// Good, bad, or not known yet (no result since start, without `init_fail`).
    pub fn status(&self) -> Option<bool> {
        (!self.init).then_some(self.result >= self.rise)
    }

    /// One result; returns the new status when it changed (the first result always
    /// reports).
    pub fn report(&mut self, ok: bool) -> Option<bool> {
        let (rise, fall) = (self.rise, self.fall);
        let first = self.init;
        self.init = false;
        if ok {
            if self.result < rise - 1 {
                self.result += 1;
                None
            } else if self.result != rise + fall - 1 {
                let changed = self.result < rise;
                self.result = rise + fall - 1;
                changed.then_some(true)
            } else {
                None
            }
        } else if self.result > rise {
            self.result -= 1;
            None
        } else {
            let changed = self.result == rise || first;
            self.result = 0;
            changed.then_some(false)
        }
    }
}

/// What instance `index` of `config` tracks, with keepalived's rules applied
/// (`vrrp_complete_instance`, `sync_group_tracking_init`):
/// - in a sync group without `sync_group_tracking_weight`: its own weighted interfaces
///   count with weight 0 (down = FAULT), its own weighted scripts and files are ignored;
/// - an address owner (255): its weighted interfaces, scripts and files are ignored;
/// - the group's own tracks go to every member with their weights, 0 if a member is an
///   owner.
///
/// A track without a weight takes the script's or file's own weight (interfaces: 0).
pub fn of_instance(config: &Config, index: usize) -> Vec<Tracked> {
    let Some(inst) = config.instances.get(index) else {
        return Vec::new();
    };
    let group = config
        .sync_groups
        .iter()
        .find(|g| g.members.contains(&inst.name));
    let owner = |name: &str| {
        config
            .instances
            .iter()
            .any(|i| i.name == name && i.priority.get() == 255)
    };
    let no_weights = group.is_some_and(|g| !g.tracking_weight);
    let is_owner = owner(&inst.name);
    let script_weight = |name: &str| {
        config
            .scripts
            .iter()
            .find(|s| s.name == name)
            .map_or((0, false), |s| (s.weight, s.reverse))
    };
    let file_weight = |name: &str| {
        config
            .track_files
            .iter()
            .find(|f| f.name == name)
            .map_or((1, false), |f| (f.weight, f.reverse))
    };
    let mut out = Vec::new();
    for t in &inst.track_interfaces {
        let weight = t.weight.unwrap_or(0);
        if weight != 0 && is_owner {
            continue;
        }
        out.push(Tracked {
            source: Source::Interface(t.name.clone()),
            weight: if no_weights { 0 } else { weight },
            reverse: t.reverse,
        });
    }
    for t in &inst.track_scripts {
        let (own, own_reverse) = script_weight(&t.name);
        let weight = t.weight.unwrap_or(own);
        if weight != 0 && (no_weights || is_owner) {
            continue;
        }
        out.push(Tracked {
            source: Source::Script(t.name.clone()),
            weight,
            reverse: if t.weight.is_some() {
                t.reverse
            } else {
                own_reverse
            },
        });
    }
    for t in &inst.track_files {
        let (own, own_reverse) = file_weight(&t.name);
        let mut weight = t.weight.unwrap_or(own);
        if (no_weights || is_owner) && weight != 0 {
            // keepalived: the default weight (1) becomes 0, an explicit one is ignored.
            if t.weight.is_some() {
                continue;
            }
            weight = 0;
        }
        out.push(Tracked {
            source: Source::File(t.name.clone()),
            weight,
            reverse: if t.weight.is_some() {
                t.reverse
            } else {
                own_reverse
            },
        });
    }
    if let Some(g) = group {
        let any_owner = g.members.iter().any(|m| owner(m));
        let weigh = |w: i32| if any_owner { 0 } else { w };
        for t in &g.track_interfaces {
            out.push(Tracked {
                source: Source::Interface(t.name.clone()),
                weight: weigh(t.weight.unwrap_or(0)),
                reverse: t.reverse,
            });
        }
        for t in &g.track_scripts {
            let (own, own_reverse) = script_weight(&t.name);
            out.push(Tracked {
                source: Source::Script(t.name.clone()),
                weight: weigh(t.weight.unwrap_or(own)),
                reverse: if t.weight.is_some() {
                    t.reverse
                } else {
                    own_reverse
                },
            });
        }
        for t in &g.track_files {
            let (own, own_reverse) = file_weight(&t.name);
            out.push(Tracked {
                source: Source::File(t.name.clone()),
                weight: weigh(t.weight.unwrap_or(own)),
                reverse: if t.weight.is_some() {
                    t.reverse
                } else {
                    own_reverse
                },
            });
        }
    }
    out
}

/// The state of everything tracked, as the controller knows it.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub scripts: HashMap<String, Counter>,
    pub links: HashMap<String, bool>,
    /// The number in each tracked file (missing or unreadable: 0).
    pub files: HashMap<String, i64>,
}

/// What the tracked things make of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Base priority plus the weights that apply, clamped to 1–254 (keepalived's
    /// `vrrp_set_effective_priority`); an address owner stays at 255.
    pub priority: u8,
    /// Tracks with weight 0 that fail (interfaces are the `fsm`'s own faults already).
    pub faults: BTreeSet<FaultReason>,
}

/// keepalived's weights (`process_script_update_priority`, `initialise_tracking_priorities`):
/// a positive weight is added while the thing is good, a negative one while it is bad;
/// `reverse` turns the adjustment round. A script without a result yet counts nothing.
/// A file's number n counts n × weight (at most 253; −254 or below: FAULT); with weight 0
/// any number but 0 is a FAULT. Weight 0 faults on failure (`reverse`: on success).
pub fn evaluate(base: u8, tracked: &[Tracked], world: &World) -> Evaluation {
    let mut total = i64::from(base);
    let mut faults = BTreeSet::new();
    let sign = |reverse: bool| if reverse { -1 } else { 1 };
    let weigh = |weight: i32, good: bool| -> i64 {
        let w = i64::from(weight);
        match (w > 0, good) {
            (true, true) | (false, false) => w,
            _ => 0,
        }
    };
    for t in tracked {
        match &t.source {
            Source::Script(name) => {
                let Some(good) = world.scripts.get(name).and_then(Counter::status) else {
                    continue;
                };
                if t.weight == 0 {
                    if good == t.reverse {
                        faults.insert(FaultReason::Script(name.clone()));
                    }
                } else {
                    total += sign(t.reverse) * weigh(t.weight, good);
                }
            }
            Source::Interface(name) => {
                // Weight 0: the fsm's own InterfaceDown fault.
                if t.weight != 0 {
                    let up = world.links.get(name).copied().unwrap_or(true);
                    total += sign(t.reverse) * weigh(t.weight, up);
                }
            }
            Source::File(name) => {
                let value = world.files.get(name).copied().unwrap_or(0);
                if t.weight == 0 {
                    if (value != 0) != t.reverse {
                        faults.insert(FaultReason::File(name.clone()));
                    }
                } else {
                    let status = value
                        .saturating_mul(i64::from(t.weight))
                        .saturating_mul(sign(t.reverse));
                    if status <= -254 {
                        faults.insert(FaultReason::File(name.clone()));
                    } else {
                        total += status.min(253);
                    }
                }
            }
        }
    }
    let priority = if base == 255 {
        255
    } else {
        u8::try_from(total.clamp(1, 254)).unwrap_or(254)
    };
    Evaluation { priority, faults }
}

/// The interfaces an instance tracks with weight 0 (down = FAULT, as its own interface).
pub fn fault_interfaces(tracked: &[Tracked]) -> Vec<String> {
    tracked
        .iter()
        .filter_map(|t| match &t.source {
            Source::Interface(name) if t.weight == 0 => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// keepalived's file reading: the first number in it (leading blanks skipped, `strtol`),
/// 0 when there is none.
pub fn file_value(text: &str) -> i64 {
    let t = text.trim_start();
    let end = t
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+'))))
        .map_or(t.len(), |(i, _)| i);
    t[..end].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_result_decides_at_start_then_rise_and_fall_count() {
        let mut c = Counter::new(3, 2, false);
        assert_eq!(c.status(), None);
        assert_eq!(c.report(true), Some(true));
        assert_eq!(c.report(false), None);
        assert_eq!(c.report(false), Some(false));
        assert_eq!(c.report(true), None);
        assert_eq!(c.report(true), None);
        assert_eq!(c.report(true), Some(true));
        // The first failure counts at once too.
        let mut c = Counter::new(3, 2, false);
        assert_eq!(c.report(false), Some(false));
    }

    #[test]
    fn init_fail_starts_failed_and_needs_rise_successes() {
        let mut c = Counter::new(2, 1, true);
        assert_eq!(c.status(), Some(false));
        assert_eq!(c.report(false), None);
        assert_eq!(c.report(true), None);
        assert_eq!(c.report(true), Some(true));
    }

    fn script(name: &str, weight: i32, reverse: bool) -> Tracked {
        Tracked {
            source: Source::Script(name.into()),
            weight,
            reverse,
        }
    }

    fn world(results: &[(&str, bool)]) -> World {
        let mut w = World::default();
        for (name, ok) in results {
            let mut c = Counter::new(1, 1, false);
            c.report(*ok);
            w.scripts.insert((*name).into(), c);
        }
        w
    }

    #[test]
    fn weights_apply_as_keepalived_and_clamp_to_1_254() {
        let t = [script("a", -60, false), script("b", 20, false)];
        assert_eq!(
            evaluate(150, &t, &world(&[("a", true), ("b", true)])).priority,
            170
        );
        assert_eq!(
            evaluate(150, &t, &world(&[("a", false), ("b", false)])).priority,
            90
        );
        assert_eq!(evaluate(240, &t, &world(&[("b", true)])).priority, 254);
        assert_eq!(evaluate(50, &t, &world(&[("a", false)])).priority, 1);
        // Reverse: a positive weight lowers while good.
        let r = [script("a", 30, true)];
        assert_eq!(evaluate(100, &r, &world(&[("a", true)])).priority, 70);
        assert_eq!(evaluate(100, &r, &world(&[("a", false)])).priority, 100);
        // An owner keeps 255.
        assert_eq!(evaluate(255, &t, &world(&[("a", false)])).priority, 255);
    }

    #[test]
    fn weight_zero_faults_on_failure_reverse_on_success() {
        let t = [script("a", 0, false)];
        let e = evaluate(100, &t, &world(&[("a", false)]));
        assert!(e.faults.contains(&FaultReason::Script("a".into())));
        assert!(evaluate(100, &t, &world(&[("a", true)])).faults.is_empty());
        assert!(evaluate(100, &t, &world(&[])).faults.is_empty());
        let r = [script("a", 0, true)];
        assert!(!evaluate(100, &r, &world(&[("a", true)])).faults.is_empty());
    }

    #[test]
    fn files_count_their_number_times_the_weight() {
        let t = [Tracked {
            source: Source::File("f".into()),
            weight: 10,
            reverse: false,
        }];
        let mut w = World::default();
        w.files.insert("f".into(), -3);
        assert_eq!(evaluate(100, &t, &w).priority, 70);
        w.files.insert("f".into(), -26);
        assert!(!evaluate(100, &t, &w).faults.is_empty());
        assert_eq!(file_value("  42\n"), 42);
        assert_eq!(file_value("-7 x"), -7);
        assert_eq!(file_value("x"), 0);
    }
}
