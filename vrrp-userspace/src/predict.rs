//! ICV predictions for instances under attack (issue 11; docs/dataplane.md, "Flood
//! safety").
//!
//! The program verifies the current master's next adverts by comparison with ICVs it
//! computed itself, and anything else with a full HMAC from a small per-interval budget.
//! A flood of forgeries spends that budget, so a genuine advert the program did not
//! predict — a priority change, a new master, a restarted one — would be dropped
//! unverified. The controller holds the key: once a second, for each AH instance whose
//! counters show forgeries (`hmac_budget` or `bad_icv` moved), it computes the ICVs of
//! every advert a known sender may plausibly send next and writes them into the program's
//! table (`vrrp_common::predict`). At rest nothing is computed and the table is empty.
//!
//! For each sender (the source of a verified advert, with that advert's bytes as its
//! shape), every priority 0–255 at each of [`vrrp_common::predict::COLUMNS`] (IP id, AH
//! sequence) pairs:
//! - its next four adverts continuing its own id and sequence (a priority change, a stop
//!   with priority 0, with a few seconds of the daemon's lag);
//! - id 1 at its next four sequence numbers: keepalived reloading (SIGHUP) starts its IP id
//!   at 1 again and continues its AH sequence (captured: id 5 seq 5 at 150, then id 1 seq 6
//!   at the new priority);
//! - id 1 × sequences 1, 2, 5 and 6 above this instance's counter: a sender that
//!   restarted (keepalived and vrrpd start their id at 1; keepalived continues the
//!   sequence it heard + 1, vrrpd jumps 4 ahead on a takeover,
//!   `fsm::TAKEOVER_SEQUENCE_MARGIN`);
//! - its next id and the [`SILENT_IDS`]` − 1` after it × the same sequences: a sender
//!   that comes back as master after a silence (a BACKUP that preempts, a master back
//!   from a fault). It moved its id only when it sent; but a send that never reached the
//!   wire moved it too (captured: keepalived whose eth0 was down for 8 s came back two
//!   ids after its last advert on the wire).
//!
//! The first eight columns follow the clock: a sender last seen `n` advert intervals ago
//! has probably sent `n` adverts since, so they start `n − 1` adverts further on. The
//! others keep the ids that follow the sender's last advert seen.
//!
//! Cost: 7,168 ICVs per sender and second, each 3–4 MD5 compressions from the key's
//! midstates (measured in a release build by `cargo xtask bench xdp`), only while an
//! attack lasts.
//!
//! The senders outlive the daemon (`vrrpd run --state`, [`Remembered`]): a restarted
//! daemon has verified no advert, so nothing else would predict the master's, and under a
//! flood the HMAC budget would leave it deaf (measured: a backup restarted under 1,000
//! forged frames per second took over). The senders are written at each tick of an attack
//! and when the daemon stops, and read when it starts.
use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv4Addr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use vrrp_common::{
    counters::Counter,
    maps::Learned,
    predict::{
        COLUMNS, Column, ICV_LEN, Layout, MAX_PREDICTIONS, PRIORITIES, PredictKey, Prediction, icv,
        next_id, normalise, specialise,
    },
};

use crate::{
    auth::Password,
    config::model::AuthKind,
    dataplane::{Dataplane, DataplaneError},
    router::VirtualRouter,
};

/// How long an instance stays "under attack" after its counters last showed a forgery.
pub const HOLD: Duration = Duration::from_secs(30);
/// Senders remembered per instance.
pub const MAX_SENDERS: usize = 8;
/// Ids after a silent sender's last advert it may come back with (see the module
/// comment).
pub const SILENT_IDS: usize = 4;
/// How far above this instance's counter a returning or restarted sender's sequence
/// is: keepalived's heard + 1, in either phase of our own adverts against the tick, and
/// vrrpd's takeover jump of 4 on top.
const AHEAD: [u32; 4] = [1, 2, 5, 6];
const _: () = assert!(COLUMNS == 12 + SILENT_IDS * AHEAD.len());

/// An AH instance the predictor watches.
#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub slot: u32,
    pub password: Password,
    /// Its advert interval: how often a sender's sequence moves on.
    pub interval: Duration,
}

/// The AH instances of `routers`.
pub fn subjects(routers: &[VirtualRouter]) -> Vec<Subject> {
    routers
        .iter()
        .filter_map(|r| match &r.auth {
            Some((AuthKind::Ah, password)) => Some(Subject {
                name: r.name.clone(),
                slot: r.slot,
                password: password.clone(),
                interval: r.fsm.params.interval(),
            }),
            _ => None,
        })
        .collect()
}

/// A sender's last verified advert, with its varying fields zeroed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    template: Vec<u8>,
    next_id: u16,
    next_sequence: u32,
    /// Order of last sighting (the oldest is forgotten first).
    seen: u64,
    /// When `next_sequence` was the sender's next.
    at: Instant,
}

/// A sender as `vrrpd run --state` keeps it across restarts: one JSON line each.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Remembered {
    /// The instance's name (slots may differ after a restart or a reload).
    pub instance: String,
    pub source: Ipv4Addr,
    /// The normalised bytes of its last verified advert, in hex.
    pub template: String,
    pub next_id: u16,
    pub next_sequence: u32,
    /// When `next_sequence` was its next (Unix time, ms).
    pub at_unix_ms: u64,
    /// Whether its instance was under attack when it was kept: only then are its
    /// predictions installed at once after a restart.
    #[serde(default)]
    pub under_attack: bool,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug, Default)]
struct Watch {
    /// The instance's name: a slot a reload gives to another instance starts afresh.
    name: String,
    /// `hmac_budget + bad_icv` at the last tick.
    alarm: u64,
    attacked_until: Option<Instant>,
    senders: BTreeMap<[u8; 4], Shape>,
    /// What is in the table now, per sender: its inputs, to skip identical recomputation.
    installed: BTreeMap<[u8; 4], (Vec<u8>, [Column; COLUMNS])>,
    sightings: u64,
}

/// The predictor's state across ticks.
#[derive(Debug, Default)]
pub struct Predictor {
    watches: HashMap<u32, Watch>,
    /// ICVs computed since start (`vrrpd status` could show it; tests read it).
    pub computed: u64,
}

/// The columns for one sender, `behind` adverts after its shape was seen: see the module
/// comment.
fn columns(shape: &Shape, counter: u32, behind: u32) -> [Column; COLUMNS] {
    let mut out = [Column::default(); COLUMNS];
    // A sender that comes back as master after a silence sends the id it would have sent
    // next when it went silent: keepalived moves its IP id only when it sends.
    let silent_id = shape.next_id;
    // One advert of slack: the sender's clock and ours are not in phase.
    let skipped = behind.saturating_sub(1);
    let next_sequence = shape.next_sequence.wrapping_add(skipped);
    let mut id = shape.next_id;
    // The id skips 0: its cycle is 65,535 long.
    for _ in 0..skipped % u32::from(u16::MAX) {
        id = next_id(id);
    }
    let shape = &Shape {
        next_sequence,
        next_id: id,
        ..shape.clone()
    };
    for (k, column) in out.iter_mut().take(4).enumerate() {
        *column = Column {
            sequence: shape.next_sequence.wrapping_add(k as u32),
            id,
            _pad: 0,
        };
        id = next_id(id);
    }
    for (k, column) in out.iter_mut().skip(4).take(4).enumerate() {
        *column = Column {
            sequence: shape.next_sequence.wrapping_add(k as u32),
            id: 1,
            _pad: 0,
        };
    }
    // A restarted sender's id 1, then a silent sender's ids.
    let mut ids = [1u16; 1 + SILENT_IDS];
    let mut returning = silent_id;
    for id in ids.iter_mut().skip(1) {
        *id = returning;
        returning = next_id(returning);
    }
    let mut k = 8;
    for id in ids {
        for ahead in AHEAD {
            out[k] = Column {
                sequence: counter.wrapping_add(ahead),
                id,
                _pad: 0,
            };
            k += 1;
        }
    }
    out
}

/// Every priority × column of a sender's `template` (its last advert, normalised) for
/// `password`: one table entry. Public for `cargo xtask bench xdp`, which times it.
pub fn prediction(
    template: &[u8],
    cols: &[Column; COLUMNS],
    password: &Password,
) -> Box<Prediction> {
    let (inner, outer) = password.hmac_midstates();
    let mut p = Box::new(Prediction {
        template: [0; vrrp_common::maps::TEMPLATE_LEN],
        len: template.len() as u16,
        _pad: [0; 6],
        columns: *cols,
        icv: [[[0; ICV_LEN]; COLUMNS]; PRIORITIES],
    });
    p.template[..template.len()].copy_from_slice(template);
    let Some(layout) = Layout::of(template) else {
        return p;
    };
    let mut message = template.to_vec();
    for (priority, row) in p.icv.iter_mut().enumerate() {
        for (c, column) in cols.iter().enumerate() {
            specialise(
                &mut message,
                layout,
                column.id,
                column.sequence,
                priority as u8,
            );
            row[c] = icv(&inner, &outer, &message);
        }
    }
    p
}

impl Predictor {
    /// One tick (once a second): notes each subject's sender, decides whether it is under
    /// attack, and installs, refreshes or removes its predictions.
    pub fn tick(
        &mut self,
        dp: &mut Dataplane,
        subjects: &[Subject],
        now: Instant,
    ) -> Result<(), DataplaneError> {
        let live: Vec<u32> = subjects.iter().map(|s| s.slot).collect();
        let gone: Vec<u32> = self
            .watches
            .keys()
            .filter(|slot| !live.contains(slot))
            .copied()
            .collect();
        for slot in gone {
            if let Some(mut w) = self.watches.remove(&slot) {
                w.uninstall(dp, slot)?;
            }
        }
        // Pairs in the kernel's table: past its size an entry is refused, so none is
        // computed (a refused one would be computed again at every tick).
        let mut in_table: usize = self.watches.values().map(|w| w.installed.len()).sum();
        for s in subjects {
            let counters = dp.instance_counters(s.slot)?;
            let learned = dp.runtime(s.slot)?.learned;
            let counter = dp.sequence(s.slot)?;
            let w = self.watches.entry(s.slot).or_default();
            if w.name != s.name {
                // Another instance had this slot (or none did): nothing of it carries over.
                in_table = in_table.saturating_sub(w.uninstall(dp, s.slot)?);
                *w = Watch {
                    name: s.name.clone(),
                    ..Watch::default()
                };
            }
            let alarm = counters.get(Counter::HmacBudget) + counters.get(Counter::BadIcv);
            if alarm > w.alarm {
                if w.attacked_until.is_none() {
                    tracing::warn!(
                        instance = %s.name,
                        "({}) AH adverts failing verification: predicting the ICVs of known senders",
                        s.name
                    );
                }
                w.attacked_until = Some(now + HOLD);
            }
            w.alarm = alarm;
            w.note(&learned, now);
            let attacked = w.attacked_until.is_some_and(|until| now < until);
            if !attacked {
                if w.attacked_until.take().is_some() {
                    tracing::info!(
                        instance = %s.name,
                        "({}) no AH forgery for {} s: predictions removed",
                        s.name,
                        HOLD.as_secs()
                    );
                }
                in_table = in_table.saturating_sub(w.uninstall(dp, s.slot)?);
                continue;
            }
            for (source, shape) in &w.senders {
                let behind = adverts_since(shape.at, now, s.interval);
                let cols = columns(shape, counter, behind);
                let installed = w.installed.get(source);
                if installed == Some(&(shape.template.clone(), cols)) {
                    continue;
                }
                if installed.is_none() && in_table >= MAX_PREDICTIONS as usize {
                    continue;
                }
                let p = prediction(&shape.template, &cols, &s.password);
                self.computed += (PRIORITIES * COLUMNS) as u64;
                let key = PredictKey {
                    slot: s.slot,
                    source: *source,
                };
                // A full table (MAX_PREDICTIONS pairs under attack at once) refuses the
                // entry: that sender stays on the HMAC budget; the others go on.
                if let Err(e) = dp.set_prediction(key, &p) {
                    tracing::warn!(instance = %s.name, error = %e, "({}) ICV predictions not installed", s.name);
                    continue;
                }
                tracing::debug!(
                    instance = %s.name,
                    "({}) predictions for {} installed: columns from sequence {} id {}",
                    s.name,
                    Ipv4Addr::from(*source),
                    cols[0].sequence,
                    cols[0].id
                );
                if w.installed
                    .insert(*source, (shape.template.clone(), cols))
                    .is_none()
                {
                    in_table += 1;
                }
            }
        }
        Ok(())
    }
}

impl Predictor {
    /// Notes the sender each subject's program verified last, as a tick does: before the
    /// senders are kept, so that an advert verified since the last tick is not lost.
    pub fn observe(
        &mut self,
        dp: &Dataplane,
        subjects: &[Subject],
        now: Instant,
    ) -> Result<(), DataplaneError> {
        for s in subjects {
            let learned = dp.runtime(s.slot)?.learned;
            let w = self.watches.entry(s.slot).or_default();
            if w.name != s.name {
                // Its installed predictions go with the program (called at the stop).
                *w = Watch {
                    name: s.name.clone(),
                    ..Watch::default()
                };
            }
            w.note(&learned, now);
        }
        Ok(())
    }

    /// Every sender known, for `--state`.
    pub fn remembered(&self, subjects: &[Subject], now: Instant) -> Vec<Remembered> {
        let wall = SystemTime::now();
        let mut out = Vec::new();
        for s in subjects {
            let Some(w) = self.watches.get(&s.slot).filter(|w| w.name == s.name) else {
                continue;
            };
            let under_attack = w.attacked_until.is_some_and(|until| now < until);
            for (source, shape) in &w.senders {
                let at = wall
                    .checked_sub(now.saturating_duration_since(shape.at))
                    .unwrap_or(wall);
                out.push(Remembered {
                    instance: s.name.clone(),
                    source: Ipv4Addr::from(*source),
                    template: shape.template.iter().map(|b| format!("{b:02x}")).collect(),
                    next_id: shape.next_id,
                    next_sequence: shape.next_sequence,
                    at_unix_ms: unix_ms(at),
                    under_attack,
                });
            }
        }
        out
    }

    /// Takes back the senders a previous run remembered, for the subjects of the same
    /// name ([`MAX_SENDERS`] each at most); the others (an instance since removed, a
    /// malformed template) are skipped. An instance that was under attack counts as under
    /// attack for [`HOLD`] from now: its predictions are installed at the first tick,
    /// before any forgery is counted, so that the master's first advert after the restart
    /// is verified by comparison. Returns how many were taken.
    pub fn recall(&mut self, subjects: &[Subject], senders: &[Remembered], now: Instant) -> usize {
        let wall_now = unix_ms(SystemTime::now());
        let mut taken = 0;
        for r in senders {
            let Some(s) = subjects.iter().find(|s| s.name == r.instance) else {
                continue;
            };
            let Some(template) = unhex(&r.template).filter(|t| Layout::of(t).is_some()) else {
                continue;
            };
            let w = self.watches.entry(s.slot).or_default();
            w.name.clone_from(&s.name);
            if w.senders.contains_key(&r.source.octets()) || w.senders.len() >= MAX_SENDERS {
                continue;
            }
            let age = Duration::from_millis(wall_now.saturating_sub(r.at_unix_ms));
            if r.under_attack {
                w.attacked_until = Some(now + HOLD);
            }
            w.sightings += 1;
            w.senders.insert(
                r.source.octets(),
                Shape {
                    template,
                    next_id: r.next_id,
                    next_sequence: r.next_sequence,
                    seen: w.sightings,
                    at: now.checked_sub(age).unwrap_or(now),
                },
            );
            taken += 1;
        }
        taken
    }

    /// Whether some instance is under attack now.
    pub fn attacked(&self, now: Instant) -> bool {
        self.watches
            .values()
            .any(|w| w.attacked_until.is_some_and(|until| now < until))
    }
}

/// Adverts a sender has probably sent between `at` and `now`.
fn adverts_since(at: Instant, now: Instant, interval: Duration) -> u32 {
    let elapsed = now.saturating_duration_since(at);
    u32::try_from(elapsed.as_millis() / interval.as_millis().max(1)).unwrap_or(u32::MAX)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 2 * vrrp_common::maps::TEMPLATE_LEN {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Watch {
    /// Removes this watch's predictions (instance `slot`) from the kernel's table; how
    /// many there were.
    fn uninstall(&mut self, dp: &mut Dataplane, slot: u32) -> Result<usize, DataplaneError> {
        let installed = std::mem::take(&mut self.installed);
        for source in installed.keys() {
            dp.remove_prediction(PredictKey {
                slot,
                source: *source,
            })?;
        }
        Ok(installed.len())
    }

    /// Remembers the sender of the last verified AH advert, with its shape.
    fn note(&mut self, learned: &Learned, now: Instant) {
        let len = usize::from(learned.template_len);
        if len == 0 || learned.predicted_sequence == 0 || len > learned.template.len() {
            return;
        }
        let mut template = learned.template[..len].to_vec();
        let Some(layout) = Layout::of(&template) else {
            return;
        };
        normalise(&mut template, layout);
        let mut source = [0u8; 4];
        source.copy_from_slice(&learned.master_address[..4]);
        // The same advert as at the last tick: the sender's clock keeps running from then.
        let at = match self.senders.get(&source) {
            Some(old)
                if old.template == template
                    && old.next_sequence == learned.predicted_sequence
                    && old.next_id == learned.predicted_id =>
            {
                old.at
            }
            _ => now,
        };
        self.sightings += 1;
        self.senders.insert(
            source,
            Shape {
                template,
                next_id: learned.predicted_id,
                next_sequence: learned.predicted_sequence,
                seen: self.sightings,
                at,
            },
        );
        while self.senders.len() > MAX_SENDERS {
            let oldest = self
                .senders
                .iter()
                .min_by_key(|(_, shape)| shape.seen)
                .map(|(source, _)| *source);
            if let Some(oldest) = oldest {
                self.senders.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_continue_the_sender_then_cover_a_restart_and_a_return() {
        let shape = Shape {
            template: vec![],
            next_id: u16::MAX,
            next_sequence: 41,
            seen: 0,
            at: Instant::now(),
        };
        let c = columns(&shape, 100, 0);
        assert_eq!((c[0].id, c[0].sequence), (u16::MAX, 41));
        assert_eq!((c[1].id, c[1].sequence), (1, 42));
        assert_eq!((c[3].id, c[3].sequence), (3, 44));
        // A reload: id 1 again, the sequence continued.
        assert_eq!((c[4].id, c[4].sequence), (1, 41));
        assert_eq!((c[7].id, c[7].sequence), (1, 44));
        assert_eq!((c[8].id, c[8].sequence), (1, 101));
        assert_eq!((c[11].id, c[11].sequence), (1, 106));
        assert_eq!((c[12].id, c[12].sequence), (u16::MAX, 101));
        // Ids that sends which never reached the wire used (the id skips 0).
        assert_eq!((c[16].id, c[16].sequence), (1, 101));
        assert_eq!((c[24].id, c[24].sequence), (3, 101));
        assert_eq!((c[27].id, c[27].sequence), (3, 106));
    }

    #[test]
    fn columns_follow_the_clock_with_one_advert_of_slack() {
        let shape = Shape {
            template: vec![],
            next_id: u16::MAX - 1,
            next_sequence: 41,
            seen: 0,
            at: Instant::now(),
        };
        // Seen 5 intervals ago: it has sent about 5 adverts; the columns start 4 on (the
        // id skips 0: 65534, 65535, 1, 2, 3).
        let c = columns(&shape, 100, 5);
        assert_eq!((c[0].id, c[0].sequence), (3, 45));
        assert_eq!((c[3].id, c[3].sequence), (6, 48));
        assert_eq!((c[4].id, c[4].sequence), (1, 45));
        // The columns above our own counter do not move, nor does the id of a sender that
        // comes back after a silence (it advanced only while it sent).
        assert_eq!((c[8].id, c[8].sequence), (1, 101));
        assert_eq!((c[12].id, c[12].sequence), (u16::MAX - 1, 101));
        assert_eq!((c[15].id, c[15].sequence), (u16::MAX - 1, 106));
        assert_eq!((c[27].id, c[27].sequence), (2, 106));
        assert_eq!(columns(&shape, 100, 1), columns(&shape, 100, 0));
        let t = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(adverts_since(t, t + 3 * second + second / 2, second), 3);
        assert_eq!(adverts_since(t + second, t, second), 0);
    }

    #[test]
    fn remembered_senders_come_back_by_instance_name() {
        let mut template = vec![0u8; 64];
        template[0] = 0x45;
        let subject = |name: &str, slot| Subject {
            name: name.to_owned(),
            slot,
            password: Password::new(b"secret"),
            interval: Duration::from_secs(1),
        };
        let now = Instant::now();
        let mut before = Predictor::default();
        let mut w = Watch {
            name: "VI_1".into(),
            attacked_until: Some(now + HOLD),
            ..Watch::default()
        };
        w.senders.insert(
            [10, 0, 7, 5],
            Shape {
                template: template.clone(),
                next_id: 7,
                next_sequence: 30,
                seen: 1,
                at: now,
            },
        );
        before.watches.insert(3, w);
        let saved = before.remembered(&[subject("VI_1", 3)], now);
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].source, Ipv4Addr::new(10, 0, 7, 5));
        assert!(saved[0].under_attack);
        let line = serde_json::to_string(&saved[0]).expect("serialisable");
        let read: Remembered = serde_json::from_str(&line).expect("readable");

        // After a restart the instance has another slot; an unknown instance and a
        // malformed template are skipped.
        let mut after = Predictor::default();
        let broken = Remembered {
            template: "4".into(),
            ..read.clone()
        };
        let other = Remembered {
            instance: "VI_9".into(),
            ..read.clone()
        };
        let taken = after.recall(&[subject("VI_1", 0)], &[read, broken, other], now);
        assert_eq!(taken, 1);
        let shape = &after.watches[&0].senders[&[10, 0, 7, 5]];
        assert_eq!((shape.next_id, shape.next_sequence), (7, 30));
        assert_eq!(shape.template, template);
        // Predicted from the first tick, then as any attack: for HOLD.
        assert!(after.attacked(now));
        assert!(!after.attacked(now + HOLD));
        // Kept at rest: remembered, nothing computed until a forgery shows.
        let mut at_rest = Predictor::default();
        let quiet = Remembered {
            under_attack: false,
            ..saved[0].clone()
        };
        assert_eq!(at_rest.recall(&[subject("VI_1", 0)], &[quiet], now), 1);
        assert!(!at_rest.attacked(now));
    }

    #[test]
    fn predicted_icvs_are_what_the_sender_computes() {
        // A keepalived-shaped advert: IPv4 + AH + VRRPv2 with one address.
        let password = Password::new(b"secret");
        let mut m = vec![0u8; 64];
        m[0] = 0x45;
        m[2..4].copy_from_slice(&64u16.to_be_bytes());
        m[8] = 255;
        m[9] = 51;
        m[12..16].copy_from_slice(&[10, 0, 0, 1]);
        m[16..20].copy_from_slice(&[224, 0, 0, 18]);
        m[20] = 112;
        m[21] = 4;
        m[24..28].copy_from_slice(&[10, 0, 0, 1]);
        m[44] = 0x21;
        m[45] = 51;
        m[47] = 1;
        m[48] = 2;
        m[49] = 1;
        m[52..56].copy_from_slice(&[10, 0, 0, 100]);
        let layout = Layout::of(&m).expect("IPv4");
        let shape = Shape {
            template: {
                let mut t = m.clone();
                normalise(&mut t, layout);
                t
            },
            next_id: 5,
            next_sequence: 9,
            seen: 0,
            at: Instant::now(),
        };
        let cols = columns(&shape, 20, 0);
        let p = prediction(&shape.template, &cols, &password);
        // The sender's own computation: priority 140 at id 6, sequence 10 (column 1).
        specialise(&mut m, layout, 6, 10, 140);
        let wire = crate::auth::ah_icv(&password, &m[..20], &m[20..32], &m[44..]);
        assert_eq!(p.icv[140][1], wire);
        assert_ne!(p.icv[139][1], wire);
    }
}
