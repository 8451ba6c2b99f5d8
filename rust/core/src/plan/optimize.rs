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

/// Read equal constants through one index (tfjs number literals each get their own
/// constant, which would hide common subexpressions such as two `tf.mul(x, 0)`).
fn dedupe_consts(prog: &mut Program) {
    // Small constants only (literals), compared by their exact printed form: dtype, shape
    // and values, with -0.0 and 0.0 kept apart (numeric equality would merge them).
    let key = |t: &crate::tensor::Tensor| (t.len() <= 16).then(|| format!("{t:?}"));
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut remap: Vec<usize> = (0..prog.consts.len()).collect();
    for (i, c) in prog.consts.iter().enumerate() {
        if let Some(k) = key(c) {
            remap[i] = *first.entry(k).or_insert(i);
        }
    }
    for step in prog.steps.iter_mut() {
        for op in step.operands.iter_mut() {
            if let Src::Const(i) = op {
                *i = remap[*i];
            }
        }
    }
}

/// Fold view ops, merge common subexpressions, drop dead steps.
pub(super) fn optimize(prog: &mut Program) {
    dedupe_consts(prog);
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

/// The same value read through the same transposes (folded `t` actions differ only in
/// the action index they carry for errors).
fn same_src(a: &Src, b: &Src) -> bool {
    use crate::ops::ViewStep;
    let kind = |v: &ViewStep| match v {
        ViewStep::TorchT { .. } => 0u8,
        ViewStep::Reverse => 1,
    };
    match (a, b) {
        (Src::Slot { slot: s, view: v }, Src::Slot { slot: t, view: w }) => {
            s == t && v.len() == w.len() && v.iter().zip(w).all(|(x, y)| kind(x) == kind(y))
        }
        _ => a == b,
    }
}

/// Load-time fusions (see `ops::fused`): sums of two products sharing a factor, and
/// `a - s·x` updates. Runs after `optimize`, before the lifetimes are computed.
pub(super) fn fuse(prog: &mut Program, dialect: crate::ops::Dialect, reassociate: bool) {
    use crate::ops::fused::{Algebra, MatMulSum, SubScaled};
    use crate::ops::ViewStep;

    let n = prog.steps.len();
    // Reads of each slot (outputs count as reads, so they are never fused away).
    let mut uses = vec![0usize; prog.n_slots];
    let mut producer = vec![usize::MAX; prog.n_slots];
    for (i, step) in prog.steps.iter().enumerate() {
        for op in &step.operands {
            if let Src::Slot { slot, .. } = op {
                uses[*slot] += 1;
            }
        }
        if let Some(o) = step.out {
            producer[o] = i;
        }
    }
    for &o in &prog.outputs {
        uses[o] += 1;
    }
    let mut steps: Vec<Option<super::Step>> = std::mem::take(&mut prog.steps)
        .into_iter()
        .map(Some)
        .collect();
    let algebra = |steps: &[Option<super::Step>], i: usize| {
        steps[i]
            .as_ref()
            .map_or(Algebra::Opaque, |s| s.kernel.algebra())
    };
    // The step producing a slot operand that is read nowhere else, and the operand's views.
    let read_once = |src: &Src| -> Option<(usize, Vec<ViewStep>)> {
        let Src::Slot { slot, view } = src else {
            return None;
        };
        (uses[*slot] == 1 && producer[*slot] != usize::MAX).then(|| (producer[*slot], view.clone()))
    };
    // A product read once, directly or through one copy read once: (product step, copy
    // step, views from the product to the reader).
    let product = |steps: &[Option<super::Step>],
                   src: &Src|
     -> Option<(usize, Option<usize>, Vec<ViewStep>)> {
        let (q, view) = read_once(src)?;
        match algebra(steps, q) {
            Algebra::MatMul { .. } => Some((q, None, view)),
            Algebra::Identity => {
                let [op] = steps[q].as_ref()?.operands.as_slice() else {
                    return None;
                };
                let (q0, mut v) = read_once(op)?;
                matches!(algebra(steps, q0), Algebra::MatMul { .. }).then(|| {
                    v.extend_from_slice(&view);
                    (q0, Some(q), v)
                })
            }
            _ => None,
        }
    };
    for p in 0..n {
        match algebra(&steps, p) {
            Algebra::Add if reassociate => {
                let ops = match steps[p].as_ref() {
                    Some(s) if s.operands.len() == 2 => s.operands.clone(),
                    _ => continue,
                };
                let (Some((qx, cx, vx)), Some((qy, cy, vy))) =
                    (product(&steps, &ops[0]), product(&steps, &ops[1]))
                else {
                    continue;
                };
                if qx == qy || vx.len() % 2 != vy.len() % 2 {
                    continue;
                }
                let (
                    Algebra::MatMul {
                        transpose_a: ax,
                        transpose_b: bx,
                    },
                    Algebra::MatMul {
                        transpose_a: ay,
                        transpose_b: by,
                    },
                ) = (algebra(&steps, qx), algebra(&steps, qy))
                else {
                    continue;
                };
                let (ox, oy) = match (steps[qx].as_ref(), steps[qy].as_ref()) {
                    (Some(x), Some(y)) if x.operands.len() == 2 && y.operands.len() == 2 => {
                        (x.operands.clone(), y.operands.clone())
                    }
                    _ => continue,
                };
                let (shared_left, t_shared, t_x, t_y) = if ax == ay && same_src(&ox[0], &oy[0]) {
                    (true, ax, bx, by)
                } else if bx == by && same_src(&ox[1], &oy[1]) {
                    (false, bx, ax, ay)
                } else {
                    continue;
                };
                let (shared, x, y) = if shared_left {
                    (ox[0].clone(), ox[1].clone(), oy[1].clone())
                } else {
                    (ox[1].clone(), ox[0].clone(), oy[0].clone())
                };
                let mm_x = steps[qx].take().unwrap_or_else(|| unreachable!());
                let mm_y = steps[qy].take().unwrap_or_else(|| unreachable!());
                for c in [cx, cy].into_iter().flatten() {
                    steps[c] = None;
                }
                let add = steps[p].as_mut().unwrap_or_else(|| unreachable!());
                let add_kernel = std::mem::replace(&mut add.kernel, Box::new(Noop));
                add.kernel = Box::new(MatMulSum {
                    dialect,
                    shared_left,
                    t_shared,
                    t_x,
                    t_y,
                    views_x: vx,
                    views_y: vy,
                    mm_x: mm_x.kernel,
                    mm_y: mm_y.kernel,
                    add: add_kernel,
                    origin: [
                        (mm_x.index, mm_x.command.clone()),
                        (mm_y.index, mm_y.command.clone()),
                        (add.index, add.command.clone()),
                    ],
                });
                add.operands = vec![shared, x, y];
                add.own_context = true;
                add.command = format!("{}+{}", mm_x.command, add.command);
            }
            Algebra::Sub => {
                let (a, m) = match steps[p].as_ref() {
                    Some(s) if s.operands.len() == 2 => {
                        (s.operands[0].clone(), s.operands[1].clone())
                    }
                    _ => continue,
                };
                let Some((q, view)) = read_once(&m) else {
                    continue;
                };
                if !view.is_empty() || algebra(&steps, q) != Algebra::Mul {
                    continue;
                }
                let mul = steps[q].take().unwrap_or_else(|| unreachable!());
                if mul.operands.len() != 2 {
                    steps[q] = Some(mul);
                    continue;
                }
                // A factor that is a fused product read only here: compute it inside the
                // update, which then runs on each finished piece of it.
                let mut operands = vec![a, mul.operands[0].clone(), mul.operands[1].clone()];
                let mut product = None;
                for pos in 0..2 {
                    let Some((pq, pv)) = read_once(&mul.operands[pos]) else {
                        continue;
                    };
                    if !pv.is_empty() || algebra(&steps, pq) != Algebra::ProductSum {
                        continue;
                    }
                    let st = steps[pq].take().unwrap_or_else(|| unreachable!());
                    let Some(k) = st.kernel.into_product_sum() else {
                        unreachable!("a ProductSum kernel converts")
                    };
                    let other = mul.operands[1 - pos].clone();
                    operands = vec![operands[0].clone(), other];
                    operands.extend(st.operands);
                    product = Some((pos, k));
                    break;
                }
                let sub = steps[p].as_mut().unwrap_or_else(|| unreachable!());
                let origin = [
                    (mul.index, mul.command.clone()),
                    (sub.index, sub.command.clone()),
                ];
                let sub_kernel = std::mem::replace(&mut sub.kernel, Box::new(Noop));
                sub.command = if product.is_some() {
                    format!("matmul+add+{}+{}", mul.command, sub.command)
                } else {
                    format!("{}+{}", mul.command, sub.command)
                };
                sub.kernel = Box::new(SubScaled {
                    mul: mul.kernel,
                    sub: sub_kernel,
                    origin,
                    product,
                });
                sub.operands = operands;
                sub.own_context = true;
            }
            _ => {}
        }
    }
    prog.steps = steps.into_iter().flatten().collect();
}

/// A kernel slot being filled (never evaluated).
#[derive(Debug)]
struct Noop;

impl crate::ops::Kernel for Noop {
    fn eval(&self, _: Vec<crate::ops::Operand<'_>>) -> crate::error::Result<crate::tensor::Tensor> {
        Err(crate::error::Error::Execution(
            "internal error: empty kernel".into(),
        ))
    }
}
