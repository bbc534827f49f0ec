//! Faults that change what the workloads send, through the knobs of their column family
//! (`crate::runner::CfControl`): more writes at once (`write_burst`) or more and more
//! (`write_ramp`), other keys (`working_set_shift`), another key distribution
//! (`skew_shift`), bigger or smaller values (`value_size_shift`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{cf_label, next_fault_id, simple, target_cfs, Applied, Knob, Undo};
use crate::keygen::{Distribution, ValueSize, ZIPFIAN_THETA};
use crate::runner::{Ramp, Shared, Skew};

pub(super) fn write_burst(shared: &Shared, cf: &Option<String>, factor: f64) -> Applied {
    let cfs = target_cfs(shared, cf);
    for &i in &cfs {
        shared.controls[i].scale_writes(factor);
    }
    simple(
        format!("write rate x{factor} on {}", cf_label(cf)),
        Undo::WriteBurst { cfs, factor },
    )
}

pub(super) fn working_set_shift(
    shared: &Shared,
    cf: &Option<String>,
    key_range: (u64, u64),
) -> Applied {
    let cfs = target_cfs(shared, cf);
    for &i in &cfs {
        shared.controls[i].shift(Some(key_range));
    }
    simple(
        format!(
            "working set of {} moved to keys [{}, {})",
            cf_label(cf),
            key_range.0,
            key_range.1
        ),
        Undo::Shift { cfs },
    )
}

/// The ramp's length is its duration at the run's time scale, so that at any scale the
/// rate reaches `rate × factor` when the fault ends.
pub(super) fn write_ramp(
    shared: &Shared,
    cf: &Option<String>,
    factor: f64,
    ramp_s: f64,
    hold: bool,
    scale: f64,
) -> Applied {
    let id = next_fault_id();
    let cfs = target_cfs(shared, cf);
    let ramp = Ramp {
        start: Instant::now(),
        length: Duration::from_secs_f64(ramp_s * scale),
        factor,
    };
    for &i in &cfs {
        shared.controls[i].ramp.set(id, ramp);
    }
    simple(
        format!(
            "write rate on {} rising linearly to x{factor} over {:.1} s{}",
            cf_label(cf),
            ramp.length.as_secs_f64(),
            if hold {
                ", then held to the end of the run"
            } else {
                ""
            }
        ),
        Undo::Knob {
            knob: Knob::Ramp,
            cfs,
            id,
        },
    )
}

pub(super) fn value_size_shift(
    shared: &Shared,
    cf: &Option<String>,
    size: ValueSize,
) -> Result<Applied, String> {
    let id = next_fault_id();
    let cfs = target_cfs(shared, cf);
    for &i in &cfs {
        let class = shared.trackers[i].find_size_class(size).ok_or_else(|| {
            format!(
                "value size {size:?} is not among the sizes the verifier knows for {:?}",
                shared.cf_names[i]
            )
        })?;
        shared.controls[i].size_class.set(id, class);
    }
    let sizes = if size.min == size.max {
        format!("{} bytes", size.min)
    } else {
        format!("{} to {} bytes", size.min, size.max)
    };
    Ok(simple(
        format!("values written to {} are now {sizes}", cf_label(cf)),
        Undo::Knob {
            knob: Knob::ValueSize,
            cfs,
            id,
        },
    ))
}

pub(super) fn skew_shift(
    shared: &Shared,
    cf: &Option<String>,
    distribution: Option<Distribution>,
    theta: Option<f64>,
    hot_offset: u64,
) -> Applied {
    let id = next_fault_id();
    let cfs = target_cfs(shared, cf);
    let exponent = theta.unwrap_or(ZIPFIAN_THETA);
    for &i in &cfs {
        let skew = Skew::new(distribution, exponent, hot_offset, shared.key_spaces[i]);
        shared.controls[i].skew.set(id, Arc::new(skew));
    }
    let mut parts = vec![distribution.map_or_else(
        || "each workload's own distribution".to_owned(),
        |d| format!("{} keys", d.name()),
    )];
    if let Some(theta) = theta {
        parts.push(format!("theta {theta}"));
    }
    if hot_offset > 0 {
        parts.push(format!("hot keys moved {hot_offset} keys on"));
    }
    simple(
        format!("key choice on {}: {}", cf_label(cf), parts.join(", ")),
        Undo::Knob {
            knob: Knob::Skew,
            cfs,
            id,
        },
    )
}

/// Lifts fault `id`'s value of `knob` on `cfs` (if a later fault has not replaced it).
pub(super) fn lift_knob(shared: &Shared, knob: Knob, cfs: &[usize], id: u64) {
    for &i in cfs {
        let control = &shared.controls[i];
        match knob {
            Knob::Ramp => control.ramp.clear(id),
            Knob::ValueSize => control.size_class.clear(id),
            Knob::Skew => control.skew.clear(id),
        }
    }
}
