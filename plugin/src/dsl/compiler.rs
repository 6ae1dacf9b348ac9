//! Turns the syntax tree into a [`Program`]: allocates registers, lists and DSP state,
//! resolves variables and lambdas, and checks every call against the function table.

use std::collections::HashMap;

use super::ast::{Expr, PlayerKind};
use super::functions::{lookup, Lookup, LAMBDA_LIST_FUNCTIONS};
use super::lexer::Pos;
use super::program::{ListFnKind, Lists, Op, PlayMode, Program, ProgramParts, L, R};
use super::{CompileEnv, Diagnostic};
use crate::dsp::sampler::SamplePlayer;

/// Capacity of a list that receives `fromJS` data (longer sends are truncated).
pub const FROMJS_CAPACITY: usize = 4096;
/// How deeply lambdas may call lambdas (each call is inlined).
const MAX_LAMBDA_DEPTH: usize = 16;
/// Largest list `expa` instantiates its lambda for (one instance per element).
const MAX_EXPA: usize = 64;

/// A compiled value: a scalar register, a list, or a string literal (sample names).
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    S(R),
    L(L),
    Str(String, Pos),
    /// A fixed group of values, e.g. `fft`'s [trigger, magnitudes, phases]; `at` with a
    /// constant index picks one.
    Tuple(Vec<Operand>),
}

const TUPLE_HINT: &str =
    "is a group of results (like fft's [trigger, magnitudes, phases]): pick one with {x, index}at";

/// Where a variable's value lives.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    S(R),
    L(L),
}

#[derive(Clone, Debug)]
struct VarInfo {
    slot: Slot,
    /// Whether the program assigns the variable anywhere.
    assigned: bool,
    /// Whether a statement compiled so far (this sample) has written it.
    written: bool,
}

/// A call being compiled: its compiled arguments and where its result should go.
pub struct Call {
    /// The function name (for messages).
    pub name: String,
    pub args: Vec<Operand>,
    /// The variable slot the result is assigned to, if any (the op writes there directly).
    dest: Option<Slot>,
}

/// Compilation state.
pub struct Builder<'e> {
    env: &'e CompileEnv,
    /// False for `check`: sample names are not looked up.
    audio: bool,
    pub(crate) sr: f64,
    ops: Vec<Op>,
    /// Constant value of each register (`None` for computed registers).
    reg_consts: Vec<Option<f64>>,
    const_regs: HashMap<u64, R>,
    lists: Lists,
    vars: HashMap<String, VarInfo>,
    lambdas: HashMap<String, (Vec<String>, Expr)>,
    /// Variables assigned groups of results (`fft`, `mfcc`): names, and the value once
    /// assigned (they alias the analysis op's outputs, so they cannot be fed back).
    tuple_names: std::collections::HashSet<String>,
    tuple_vals: HashMap<String, Operand>,
    /// Lambda parameters in scope (innermost last).
    scopes: Vec<HashMap<String, Operand>>,
    pub(crate) diags: Vec<Diagnostic>,
    feedback: bool,
    dynamic_lists: bool,
    pub(crate) quantise: Option<bool>,
    pub(crate) clock: Option<(f64, f64)>,
    pub(crate) midi_ops: usize,
    pub(crate) tojs_ops: usize,
    pub(crate) scope_ops: usize,
    /// Sample names used that have no buffer yet.
    missing_samples: std::collections::HashSet<String>,
    seed: u64,
}

impl<'e> Builder<'e> {
    fn new(env: &'e CompileEnv, audio: bool) -> Self {
        Self {
            env,
            audio,
            sr: env.sample_rate,
            ops: Vec::new(),
            reg_consts: Vec::new(),
            const_regs: HashMap::new(),
            lists: Lists::default(),
            vars: HashMap::new(),
            lambdas: HashMap::new(),
            tuple_names: Default::default(),
            tuple_vals: HashMap::new(),
            scopes: Vec::new(),
            diags: Vec::new(),
            feedback: false,
            dynamic_lists: false,
            quantise: None,
            clock: None,
            midi_ops: 0,
            tojs_ops: 0,
            scope_ops: 0,
            missing_samples: Default::default(),
            seed: 0x5E3A,
        }
    }

    /// Adds an op to the program.
    pub fn emit(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// A fresh computed register.
    pub fn reg(&mut self) -> R {
        self.reg_consts.push(None);
        (self.reg_consts.len() - 1) as R
    }

    /// A register holding the constant `v` (shared between uses).
    pub fn konst(&mut self, v: f64) -> R {
        if let Some(&r) = self.const_regs.get(&v.to_bits()) {
            return r;
        }
        self.reg_consts.push(Some(v));
        let r = (self.reg_consts.len() - 1) as R;
        self.const_regs.insert(v.to_bits(), r);
        r
    }

    /// The register the call's result goes to: its variable's register when it is
    /// assigned to a scalar variable, else a fresh one.
    pub fn out(&mut self, c: &Call) -> R {
        match c.dest {
            Some(Slot::S(r)) => r,
            _ => self.reg(),
        }
    }

    /// A seed for a node's random generator (distinct per node, stable per program).
    pub fn next_seed(&mut self) -> u64 {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.seed
    }

    /// The constant value of an operand, if it is one.
    pub fn const_of(&self, a: &Operand) -> Option<f64> {
        match a {
            Operand::S(r) => self.reg_consts[*r as usize],
            _ => None,
        }
    }

    /// Argument `i` as a scalar register (a list reads its first element).
    pub fn s(&mut self, c: &Call, i: usize) -> Result<R, String> {
        match c.args.get(i) {
            Some(Operand::S(r)) => Ok(*r),
            Some(Operand::L(l)) => {
                let out = self.reg();
                let l = *l;
                self.emit(Op::ListFirst { list: l, out });
                Ok(out)
            }
            Some(Operand::Str(s, _)) => Err(format!(
                "argument {} of '{}' must be a number or signal, not the string '{s}'",
                i + 1,
                c.name
            )),
            Some(Operand::Tuple(_)) => {
                Err(format!("argument {} of '{}' {TUPLE_HINT}", i + 1, c.name))
            }
            None => Err(format!("'{}' is missing argument {}", c.name, i + 1)),
        }
    }

    /// Optional argument `i` as a scalar register.
    pub fn opt_s(&mut self, c: &Call, i: usize) -> Result<Option<R>, String> {
        if i < c.args.len() {
            self.s(c, i).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Argument `i` as a scalar register, or the constant `default` when absent.
    pub fn s_or(&mut self, c: &Call, i: usize, default: f64) -> Result<R, String> {
        match self.opt_s(c, i)? {
            Some(r) => Ok(r),
            None => Ok(self.konst(default)),
        }
    }

    /// Argument `i` as a constant (e.g. an oscillator's initial phase); 0 when absent,
    /// `default` when not constant.
    pub fn const_arg(&self, c: &Call, i: usize, default: f64) -> f64 {
        c.args.get(i).and_then(|a| self.const_of(a)).unwrap_or(default)
    }

    /// Argument `i` as a list (a scalar becomes a one-element list).
    pub fn l(&mut self, c: &Call, i: usize) -> Result<L, String> {
        match c.args.get(i) {
            Some(Operand::L(l)) => Ok(*l),
            Some(Operand::S(r)) => {
                let r = *r;
                match self.reg_consts[r as usize] {
                    Some(v) => Ok(self.lists.add(&[v], 1)),
                    None => {
                        let list = self.lists.add(&[0.0], 1);
                        self.emit(Op::ScalarToList { a: r, list });
                        self.dynamic_lists = true;
                        Ok(list)
                    }
                }
            }
            Some(Operand::Str(s, _)) => Err(format!(
                "argument {} of '{}' must be a list, not the string '{s}'",
                i + 1,
                c.name
            )),
            Some(Operand::Tuple(_)) => {
                Err(format!("argument {} of '{}' {TUPLE_HINT}", i + 1, c.name))
            }
            None => Err(format!("'{}' is missing argument {}", c.name, i + 1)),
        }
    }

    /// Where a list result should be written: the assigned list variable or a new list.
    pub fn out_list(&mut self, c: &Call, cap: usize) -> L {
        match c.dest {
            Some(Slot::L(l)) => l,
            _ => self.lists.add(&[], cap),
        }
    }

    /// Argument `i` as a string (a sample name).
    pub fn str_arg(&self, c: &Call, i: usize) -> Result<(String, Pos), String> {
        match c.args.get(i) {
            Some(Operand::Str(s, p)) => Ok((s.clone(), *p)),
            _ => {
                Err(format!("argument {} of '{}' must be a sample name like 'kick'", i + 1, c.name))
            }
        }
    }

    /// The sample-bank slot of `name`. A name without a buffer yet is not an error: its
    /// player plays silence until the buffer arrives (it is listed in the program's
    /// `missing_samples`). `check` registers no names.
    fn sample_slot(&mut self, name: &str) -> Result<u32, String> {
        if !self.audio {
            return Ok(u32::MAX);
        }
        if !self.env.samples.contains(name) {
            self.missing_samples.insert(name.to_string());
        }
        self.env.samples.slot(name).ok_or_else(|| {
            format!(
                "too many sample names (at most {}): '{name}' cannot be played",
                crate::dsl::samples::MAX_SLOTS
            )
        })
    }

    /// A sample player for `name` (see [`Builder::sample_slot`]).
    pub fn player(
        &mut self,
        name: &str,
        mode: PlayMode,
        a: R,
        b: Option<R>,
        c: Option<R>,
        out: R,
    ) -> Result<(), String> {
        let p = SamplePlayer::new(self.sample_slot(name)?);
        self.emit(Op::Player { mode, a, b, c, out, p });
        Ok(())
    }

    /// A time-stretch player for `name` (see [`Builder::sample_slot`]).
    pub fn stretch_player(
        &mut self,
        name: &str,
        seed: u64,
    ) -> Result<crate::dsp::grains::Stretch, String> {
        let slot = self.sample_slot(name)?;
        Ok(crate::dsp::grains::Stretch::new(slot, self.sr, seed))
    }

    /// Records that the program's lists change every sample (forces per-sample mode).
    pub fn mark_dynamic_lists(&mut self) {
        self.dynamic_lists = true;
    }

    // ---- variables -------------------------------------------------------------------

    /// Whether an expression produces a list (static type), and its list capacity.
    fn list_type(&self, e: &Expr, kinds: &HashMap<String, usize>) -> Option<usize> {
        match e {
            Expr::List(items, _) => Some(items.len()),
            Expr::GetVar(n, _) => kinds.get(n).copied(),
            Expr::SetVar { value, .. } => self.list_type(value, kinds),
            Expr::Call { name, args, .. } => match name.as_str() {
                "fromJS" => Some(FROMJS_CAPACITY),
                "const" | "map" | "filt" | "expa" => {
                    args.first().and_then(|a| self.list_type(a, kinds))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// First pass: finds every variable, its type (scalar or list) and the lambdas.
    fn declare(&mut self, stmts: &[Expr]) {
        let mut assigns: Vec<(String, Expr)> = Vec::new();
        fn walk(
            e: &Expr,
            out: &mut Vec<(String, Expr)>,
            lambdas: &mut HashMap<String, (Vec<String>, Expr)>,
        ) {
            match e {
                Expr::SetVar { name, value, .. } => {
                    if let Expr::Lambda { params, body, .. } = &**value {
                        lambdas.insert(name.clone(), (params.clone(), (**body).clone()));
                        walk(body, out, lambdas);
                    } else {
                        out.push((name.clone(), (**value).clone()));
                        walk(value, out, lambdas);
                    }
                }
                Expr::List(items, _) => items.iter().for_each(|i| walk(i, out, lambdas)),
                Expr::Call { args, .. }
                | Expr::Player { args, .. }
                | Expr::LambdaCall { args, .. } => args.iter().for_each(|a| walk(a, out, lambdas)),
                Expr::Dac { value, .. } => walk(value, out, lambdas),
                Expr::Lambda { body, .. } => walk(body, out, lambdas),
                _ => {}
            }
        }
        let mut lambdas = HashMap::new();
        for s in stmts {
            walk(s, &mut assigns, &mut lambdas);
        }
        // List capacities per variable, to a fixed point (a list variable may be
        // assigned from another one through `const`).
        let mut kinds: HashMap<String, usize> = HashMap::new();
        for _ in 0..4 {
            for (name, value) in &assigns {
                if let Some(cap) = self.list_type(value, &kinds) {
                    let e = kinds.entry(name.clone()).or_insert(0);
                    *e = (*e).max(cap);
                }
            }
        }
        // Variables holding analysis results, or parts of them picked with a constant
        // `at`, alias the analysis op's outputs (to a fixed point: parts of parts).
        fn is_alias(e: &Expr, names: &std::collections::HashSet<String>) -> bool {
            match e {
                Expr::Call { name, args, .. } => match name.as_str() {
                    "fft" | "mfcc" => true,
                    "at" => {
                        matches!((args.first(), args.get(1)), (Some(Expr::GetVar(v, _)), Some(Expr::Num(..))) if names.contains(v))
                            || args.first().is_some_and(|a| is_alias(a, names))
                                && matches!(args.get(1), Some(Expr::Num(..)))
                    }
                    _ => false,
                },
                Expr::SetVar { value, .. } => is_alias(value, names),
                _ => false,
            }
        }
        for _ in 0..4 {
            for (name, value) in &assigns {
                if is_alias(value, &self.tuple_names) {
                    self.tuple_names.insert(name.clone());
                }
            }
        }
        for (name, _) in &assigns {
            if self.vars.contains_key(name) || self.tuple_names.contains(name) {
                continue;
            }
            let slot = match kinds.get(name) {
                Some(&cap) => Slot::L(self.lists.add(&[0.0], cap)),
                None => Slot::S(self.reg()),
            };
            self.vars.insert(name.clone(), VarInfo { slot, assigned: true, written: false });
        }
        self.lambdas = lambdas;
    }

    fn read_var(&mut self, name: &str, pos: Pos) -> Result<Operand, String> {
        for scope in self.scopes.iter().rev() {
            if let Some(op) = scope.get(name) {
                return Ok(op.clone());
            }
        }
        if self.tuple_names.contains(name) {
            return self.tuple_vals.get(name).cloned().ok_or_else(|| {
                format!("':{name}:' is read before it is assigned; analysis results (fft, mfcc) cannot be fed back")
            });
        }
        if let Some(v) = self.vars.get(name) {
            if v.assigned && !v.written {
                // Read before written in this sample: last sample's value (feedback).
                self.feedback = true;
            }
            return Ok(match v.slot {
                Slot::S(r) => Operand::S(r),
                Slot::L(l) => Operand::L(l),
            });
        }
        if self.lambdas.contains_key(name) {
            return Err(format!("':{name}:' holds a lambda: call it with {{arguments}}:{name}:"));
        }
        let _ = pos;
        // Never assigned: reads 0, as an unset memory slot in Sema.
        Ok(Operand::S(self.konst(0.0)))
    }

    // ---- expressions -----------------------------------------------------------------

    /// Compiles an expression; `dest` is the variable slot it is being assigned to.
    fn expr(&mut self, e: &Expr, dest: Option<Slot>) -> Result<Operand, Diagnostic> {
        let located =
            |pos: Pos| move |m: String| Diagnostic { line: pos.line, col: pos.col, message: m };
        match e {
            Expr::Num(v, _) => Ok(Operand::S(self.konst(*v))),
            Expr::Str(s, p) => Ok(Operand::Str(s.clone(), *p)),
            Expr::List(items, pos) => {
                let mut init = Vec::with_capacity(items.len());
                let mut dynamic = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match self.expr(item, None)? {
                        Operand::S(r) => match self.reg_consts[r as usize] {
                            Some(v) => init.push(v),
                            None => {
                                init.push(0.0);
                                dynamic.push((i as u32, r));
                            }
                        },
                        Operand::L(l) => {
                            // As in Sema, where a one-value array stored into a list
                            // element reads as that number: take the first element.
                            let r = self.reg();
                            self.emit(Op::ListFirst { list: l, out: r });
                            init.push(0.0);
                            dynamic.push((i as u32, r));
                        }
                        Operand::Str(..) => {
                            return Err(located(item.pos())(
                                "strings cannot be list elements".into(),
                            ))
                        }
                        Operand::Tuple(_) => {
                            return Err(located(item.pos())(format!("a list element {TUPLE_HINT}")))
                        }
                    }
                }
                let _ = pos;
                let list = self.lists.add(&init, init.len());
                if !dynamic.is_empty() {
                    self.dynamic_lists = true;
                    self.emit(Op::ListLit { list, elems: dynamic.into_boxed_slice() });
                }
                Ok(Operand::L(list))
            }
            Expr::GetVar(name, pos) => self.read_var(name, *pos).map_err(located(*pos)),
            Expr::SetVar { name, value, pos } => {
                if matches!(**value, Expr::Lambda { .. }) {
                    // Lambdas are inlined at their call sites; the definition emits nothing.
                    return Ok(Operand::S(self.konst(0.0)));
                }
                if self.scopes.iter().any(|s| s.contains_key(name)) {
                    return Err(located(*pos)(format!(
                        "cannot assign to the lambda variable ':{name}:'"
                    )));
                }
                if self.tuple_names.contains(name) {
                    // An alias of analysis results: no storage of its own.
                    let v = self.expr(value, None)?;
                    self.tuple_vals.insert(name.clone(), v.clone());
                    return Ok(v);
                }
                let Some(info) = self.vars.get(name).cloned() else {
                    return Err(located(*pos)(format!("internal: undeclared variable '{name}'")));
                };
                let v = self.expr(value, Some(info.slot))?;
                let result = match (info.slot, v) {
                    (Slot::S(r), Operand::S(x)) => {
                        if x != r {
                            self.emit(Op::Copy { a: x, out: r });
                        }
                        Operand::S(r)
                    }
                    (Slot::S(r), Operand::L(l)) => {
                        self.emit(Op::ListFirst { list: l, out: r });
                        Operand::S(r)
                    }
                    (Slot::L(l), Operand::L(x)) => {
                        if x != l {
                            self.emit(Op::ListCopy { src: x, dst: l });
                        }
                        Operand::L(l)
                    }
                    (Slot::L(l), Operand::S(x)) => {
                        self.emit(Op::ScalarToList { a: x, list: l });
                        Operand::L(l)
                    }
                    (_, Operand::Str(..)) => {
                        return Err(located(*pos)(
                            "a string cannot be assigned to a variable".into(),
                        ))
                    }
                    (_, Operand::Tuple(_)) => {
                        return Err(located(*pos)(format!("':{name}:' {TUPLE_HINT}")))
                    }
                };
                if let Some(i) = self.vars.get_mut(name) {
                    i.written = true;
                }
                Ok(result)
            }
            Expr::Dac { channel, value, pos } => {
                let v = self.expr(value, None)?;
                let x = match v {
                    Operand::S(r) => r,
                    Operand::L(l) => {
                        let out = self.reg();
                        self.emit(Op::ListFirst { list: l, out });
                        out
                    }
                    Operand::Str(..) => {
                        return Err(located(*pos)("cannot send a string to the outputs".into()))
                    }
                    Operand::Tuple(_) => {
                        return Err(located(*pos)(format!("the value {TUPLE_HINT}")))
                    }
                };
                match channel {
                    None => self.emit(Op::DacAll { x }),
                    Some(ch) => {
                        let ch = self.konst(*ch as f64);
                        self.emit(Op::DacCh { x, ch });
                    }
                }
                if let Some(Slot::S(d)) = dest {
                    if d != x {
                        self.emit(Op::Copy { a: x, out: d });
                    }
                    return Ok(Operand::S(d));
                }
                Ok(Operand::S(x))
            }
            Expr::Lambda { pos, .. } => Err(located(*pos)(
                "a lambda must be assigned to a variable, like :f:(:x:@{:x:,2}mul)".into(),
            )),
            Expr::LambdaCall { name, args, pos } => {
                let Some((params, body)) = self.lambdas.get(name).cloned() else {
                    return Err(located(*pos)(format!(
                        "':{name}:' is not a lambda (define it with :{name}:(:x:@...))"
                    )));
                };
                if args.len() != params.len() {
                    return Err(located(*pos)(format!(
                        "lambda ':{name}:' takes {} argument{}, got {}",
                        params.len(),
                        if params.len() == 1 { "" } else { "s" },
                        args.len()
                    )));
                }
                if self.scopes.len() >= MAX_LAMBDA_DEPTH {
                    return Err(located(*pos)(format!(
                        "lambda ':{name}:' calls itself too deeply (recursion is not supported)"
                    )));
                }
                let mut scope = HashMap::new();
                for (p, a) in params.iter().zip(args) {
                    let v = self.expr(a, None)?;
                    scope.insert(p.clone(), v);
                }
                self.scopes.push(scope);
                let r = self.expr(&body, dest);
                self.scopes.pop();
                r
            }
            Expr::Call { name, args, pos } => self.call(name, args, *pos, dest),
            Expr::Player { kind, sample, args, pos } => {
                let fname = match kind {
                    PlayerKind::Sampler => "sampler",
                    PlayerKind::Slice => "slice",
                    PlayerKind::Stretch => "stretch",
                };
                let mut all = args.clone();
                all.push(Expr::Str(sample.clone(), *pos));
                self.call(fname, &all, *pos, dest)
            }
        }
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Expr],
        pos: Pos,
        dest: Option<Slot>,
    ) -> Result<Operand, Diagnostic> {
        let located = |m: String| Diagnostic { line: pos.line, col: pos.col, message: m };
        let def = match lookup(name) {
            Lookup::Found(def) => def,
            Lookup::NotSupported => return Err(located(format!("'{name}' is not supported yet"))),
            Lookup::Unknown => {
                let hint = super::functions::suggest(name)
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                return Err(located(format!("unknown function '{name}'{hint}")));
            }
        };
        if args.len() < def.min_args {
            let range = if def.min_args == def.max_args {
                format!("{}", def.min_args)
            } else if def.max_args == usize::MAX {
                format!("at least {}", def.min_args)
            } else {
                format!("{} to {}", def.min_args, def.max_args)
            };
            return Err(located(format!(
                "'{name}' takes {range} argument{}, got {} ({})",
                if def.max_args == 1 && def.min_args == 1 { "" } else { "s" },
                args.len(),
                def.usage
            )));
        }
        if LAMBDA_LIST_FUNCTIONS.contains(&name) {
            return self.list_fn(name, args, pos, dest).map_err(located);
        }
        let mut ops = Vec::with_capacity(args.len());
        for a in &args[..args.len().min(def.max_args)] {
            ops.push(self.expr(a, None)?);
        }
        // Sema ignores extra arguments (tutorial code relies on it): they are still
        // checked for errors, but nothing they compile to is kept.
        if args.len() > def.max_args {
            let (n_ops, scopes_ok) = (self.ops.len(), self.scopes.len());
            for a in &args[def.max_args..] {
                self.expr(a, None)?;
            }
            self.ops.truncate(n_ops);
            debug_assert_eq!(scopes_ok, self.scopes.len());
        }
        let c = Call { name: name.to_string(), args: ops, dest };
        (def.build)(self, &c).map_err(located)
    }

    /// `{list, :f:}map` and friends: the lambda body is compiled into op lists that the
    /// `ListFn` op runs once per element.
    fn list_fn(
        &mut self,
        name: &str,
        args: &[Expr],
        pos: Pos,
        dest: Option<Slot>,
    ) -> Result<Operand, String> {
        let kind = match name {
            "map" => ListFnKind::Map,
            "filt" => ListFnKind::Filt,
            "redu" => ListFnKind::Redu,
            _ => ListFnKind::Expa,
        };
        let src = match self.expr(&args[0], None).map_err(|d| d.message)? {
            Operand::L(l) => l,
            Operand::S(r) => {
                let list = self.lists.add(&[0.0], 1);
                self.emit(Op::ScalarToList { a: r, list });
                list
            }
            _ => return Err(format!("the first argument of '{name}' must be a list")),
        };
        let Expr::GetVar(lname, _) = &args[1] else {
            return Err(format!("the second argument of '{name}' must be a lambda variable, like {{[1,2,3], :f:}}{name} with :f:(:x:@{{:x:,2}}mul)"));
        };
        let Some((params, body)) = self.lambdas.get(lname).cloned() else {
            return Err(format!("':{lname}:' is not a lambda (define it with :{lname}:(:x:@...))"));
        };
        let want = if kind == ListFnKind::Redu { 2 } else { 1 };
        if params.len() != want {
            return Err(format!(
                "'{name}' needs a lambda of {want} argument{}, ':{lname}:' takes {}",
                if want == 1 { "" } else { "s" },
                params.len()
            ));
        }
        if self.scopes.len() >= MAX_LAMBDA_DEPTH {
            return Err(format!("lambda ':{lname}:' is nested too deeply"));
        }
        // Lists produced element by element change every sample.
        self.dynamic_lists = true;
        let p = [self.reg(), self.reg()];
        let cap = self.lists.capacity(src);
        let count = if kind == ListFnKind::Expa {
            if cap > MAX_EXPA {
                return Err(format!("'expa' makes one lambda instance per element: lists of at most {MAX_EXPA} elements (this one can hold {cap})"));
            }
            cap
        } else {
            1
        };
        let mut bodies = Vec::with_capacity(count);
        let mut results = Vec::with_capacity(count);
        for _ in 0..count {
            let saved = std::mem::take(&mut self.ops);
            let scope = params.iter().zip(p).map(|(n, r)| (n.clone(), Operand::S(r))).collect();
            self.scopes.push(scope);
            let r = self.expr(&body, None);
            self.scopes.pop();
            let r = match r {
                Ok(Operand::S(r)) => Ok(r),
                Ok(Operand::L(l)) => {
                    let out = self.reg();
                    self.emit(Op::ListFirst { list: l, out });
                    Ok(out)
                }
                Ok(_) => Err(format!("the lambda ':{lname}:' must return a number")),
                Err(d) => Err(d.message),
            };
            let sub = std::mem::replace(&mut self.ops, saved);
            let r = r?;
            if kind != ListFnKind::Expa && !sub.iter().all(Op::is_stateless) {
                return Err(format!(
                    "the lambda of '{name}' must not keep state (oscillators, filters, triggers...): use expa for one instance per element"
                ));
            }
            bodies.push(sub.into_boxed_slice());
            results.push(r);
        }
        let _ = pos;
        let out = match dest {
            Some(Slot::S(r)) => r,
            _ => self.reg(),
        };
        let dst = if kind == ListFnKind::Redu {
            None
        } else {
            Some(match dest {
                Some(Slot::L(l)) => l,
                _ => self.lists.add(&[], cap),
            })
        };
        self.emit(Op::ListFn {
            kind,
            src,
            dst,
            out,
            params: p,
            bodies: bodies.into_boxed_slice(),
            results: results.into_boxed_slice(),
        });
        Ok(match dst {
            Some(l) => Operand::L(l),
            None => Operand::S(out),
        })
    }

    /// Capacity of list `l`.
    pub fn list_capacity(&self, l: L) -> usize {
        self.lists.capacity(l)
    }

    /// A new list of `len` zeros.
    pub fn new_list(&mut self, len: usize) -> L {
        self.lists.add(&vec![0.0; len], len)
    }
}

/// Compiles `stmts`; `audio` false skips sample lookups (for `check`).
pub fn compile_program(
    stmts: &[Expr],
    env: &CompileEnv,
    audio: bool,
) -> Result<Program, Vec<Diagnostic>> {
    let mut b = Builder::new(env, audio);
    b.declare(stmts);
    for s in stmts {
        if let Err(d) = b.expr(s, None) {
            b.diags.push(d);
        }
    }
    if !b.diags.is_empty() {
        return Err(b.diags);
    }
    let per_sample =
        b.feedback || b.dynamic_lists || b.midi_ops > 1 || b.tojs_ops > 1 || b.scope_ops > 1;
    Program::new(ProgramParts {
        ops: b.ops,
        reg_consts: b.reg_consts,
        per_sample,
        lists: b.lists,
        sample_rate: env.sample_rate,
        max_block: env.max_block,
        quantise: b.quantise.unwrap_or(false),
        initial_clock: b.clock,
        uses_midi: b.midi_ops > 0,
        missing_samples: {
            let mut m: Vec<String> = b.missing_samples.into_iter().collect();
            m.sort();
            m
        },
    })
    .map_err(|message| vec![Diagnostic { line: 1, col: 1, message }])
}
