//! Load-time rewrites of a lowered role that keep every result bit-identical: transposes
//! folded into their consumers as strided views, common subexpressions computed once,
//! dead actions dropped; then the slot lifetimes (take-ownership and free lists).

use std::collections::{HashMap, HashSet};

use super::Program;
use crate::ops::{Src, Tag};

/// Follow aliases of a slot operand.
fn resolve(src: &Src, alias: &HashMap<usize, Src>) -> Src {
    match src {
        Src::Slot { slot, view } => match alias.get(slot) {
            Some(Src::Slot { slot: s2, view: v2 }) => {
                let mut v = v2.clone();
                v.extend_from_slice(view);
                Src::Slot { slot: *s2, view: v }
            }
            Some(other) => other.clone(),
            None => src.clone(),
        },
        other => other.clone(),
    }
}

/// Fold view ops, merge common subexpressions, drop dead steps.
pub(super) fn optimize(prog: &mut Program) {
    let outputs: HashSet<usize> = prog.outputs.iter().copied().collect();
    let mut alias: HashMap<usize, Src> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let steps = std::mem::take(&mut prog.steps);
    let mut kept = Vec::with_capacity(steps.len());
    for mut step in steps {
        for op in step.operands.iter_mut() {
            *op = resolve(op, &alias);
        }
        let Some(out) = step.out else {
            kept.push(step);
            continue;
        };
        if outputs.contains(&out) {
            kept.push(step);
            continue;
        }
        // A pure re-striding of a slot: consumers read the slot through the view step.
        if let (Tag::View(vs), Some(Src::Slot { slot, view })) = (step.tag, step.operands.first()) {
            let mut v = view.clone();
            v.push(vs);
            alias.insert(
                out,
                Src::Slot {
                    slot: *slot,
                    view: v,
                },
            );
            continue;
        }
        // Same command, same parameters, same operands: same value (kernels are pure).
        let key = format!(
            "{}\u{0}{:?}\u{0}{:?}",
            step.command, step.kernel, step.operands
        );
        if let Some(prev) = seen.get(&key) {
            alias.insert(
                out,
                Src::Slot {
                    slot: *prev,
                    view: Vec::new(),
                },
            );
            continue;
        }
        seen.insert(key, out);
        kept.push(step);
    }
    // Dead-code elimination, backwards from the outputs.
    let mut live: HashSet<usize> = outputs;
    let mut rev = Vec::with_capacity(kept.len());
    for step in kept.into_iter().rev() {
        if step.out.is_some_and(|o| live.contains(&o)) {
            for op in &step.operands {
                if let Src::Slot { slot, .. } = op {
                    live.insert(*slot);
                }
            }
            rev.push(step);
        }
    }
    rev.reverse();
    prog.steps = rev;
}

/// Let producers whose results are only ever read transposed write them column-major.
pub(super) fn layouts(prog: &mut Program) {
    let outputs: HashSet<usize> = prog.outputs.iter().copied().collect();
    // slot -> (uses, uses through an odd number of transposes)
    let mut uses: HashMap<usize, (usize, usize)> = HashMap::new();
    for step in &prog.steps {
        for op in &step.operands {
            if let Src::Slot { slot, view } = op {
                let e = uses.entry(*slot).or_insert((0, 0));
                e.0 += 1;
                if view.len() % 2 == 1 {
                    e.1 += 1;
                }
            }
        }
    }
    for step in prog.steps.iter_mut() {
        let Some(out) = step.out else { continue };
        if outputs.contains(&out) {
            continue;
        }
        if let Some((all, transposed)) = uses.get(&out) {
            if *all > 0 && all == transposed {
                step.kernel.prefer_transposed_output();
            }
        }
    }
}

/// Compute, per step, which operands may be taken over and which slots die.
pub(super) fn lifetimes(prog: &mut Program) {
    let mut last = vec![usize::MAX; prog.n_slots];
    for (i, step) in prog.steps.iter().enumerate() {
        for op in &step.operands {
            if let Src::Slot { slot, .. } = op {
                last[*slot] = i;
            }
        }
    }
    for &o in &prog.outputs {
        last[o] = usize::MAX;
    }
    for (i, step) in prog.steps.iter_mut().enumerate() {
        let slots: Vec<Option<usize>> = step
            .operands
            .iter()
            .map(|op| match op {
                Src::Slot { slot, .. } => Some(*slot),
                _ => None,
            })
            .collect();
        step.consume = slots
            .iter()
            .map(|s| match s {
                Some(s) => last[*s] == i && slots.iter().filter(|x| **x == Some(*s)).count() == 1,
                None => false,
            })
            .collect();
        let mut free: Vec<usize> = slots
            .iter()
            .flatten()
            .copied()
            .filter(|s| last[*s] == i)
            .collect();
        free.sort_unstable();
        free.dedup();
        step.free = free;
    }
}
