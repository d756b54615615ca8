//! Command-line driver for benchmarks and the CP-SAT comparison:
//!
//! ```text
//! cargo run --release -p kairos-schedule --example schedule -- generate --clients 200 --chairs 6 --therapists 10 --days 28 --seed 1 > p.json
//! cargo run --release -p kairos-schedule --example schedule -- solve --problem p.json [--seed S] [--iterations N] [--time-limit S] > plan.json
//! cargo run --release -p kairos-schedule --example schedule -- bound --problem p.json
//! cargo run --release -p kairos-schedule --example schedule -- export --problem p.json > slots.json
//! cargo run --release -p kairos-schedule --example schedule -- check --problem p.json --plan plan.json
//! cargo run --release -p kairos-schedule --example schedule -- repair-bench --problem p.json --cancellations 20
//! ```

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use kairos_schedule::{
    Change, EventKind, GenParams, Options, Plan, Problem, apply_change, check, generate, repair, solve,
};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a generated problem to stdout.
    Generate {
        #[arg(long, default_value_t = 200)]
        clients: usize,
        #[arg(long, default_value_t = 6)]
        chairs: usize,
        #[arg(long, default_value_t = 10)]
        therapists: usize,
        #[arg(long, default_value_t = 3)]
        monitors: usize,
        #[arg(long, default_value_t = 28)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Solves a problem and writes the plan to stdout (timing on stderr).
    Solve {
        #[arg(long)]
        problem: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        iterations: Option<u64>,
        #[arg(long, default_value_t = 10.0)]
        time_limit: f64,
    },
    /// Upper bounds on doses and sessions in the preferred window (each course alone, exact).
    Bound {
        #[arg(long)]
        problem: String,
    },
    /// Checks a plan against a problem; exit code 1 on a violation.
    Check {
        #[arg(long)]
        problem: String,
        #[arg(long)]
        plan: String,
    },
    /// Writes the compiled slot model (for bench/schedule/cpsat.py).
    Export {
        #[arg(long)]
        problem: String,
    },
    /// Solves, then times repairs after single cancellations of random doses.
    RepairBench {
        #[arg(long)]
        problem: String,
        #[arg(long, default_value_t = 20)]
        cancellations: usize,
    },
}

fn read_problem(path: &str) -> Problem {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    Problem::from_json(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Generate { clients, chairs, therapists, monitors, days, seed } => {
            let p = generate(&GenParams { clients, chairs, therapists, monitors, days, seed, ..GenParams::default() });
            println!("{}", p.to_json());
        }
        Cmd::Solve { problem, seed, iterations, time_limit } => {
            let p = read_problem(&problem);
            let opts =
                Options { seed, iterations, time_limit: Duration::from_secs_f64(time_limit), ..Options::default() };
            let t = Instant::now();
            let plan = solve(&p, &opts).unwrap_or_else(|e| fail(&e.to_string()));
            let el = t.elapsed();
            let s = &plan.summary;
            eprintln!(
                "solve: {:.3} s; doses {}/{}; sessions {}/{} ({} preferred); continuity {}; client-days {}; chair-days {}; objective {}; iterations {} ({})",
                el.as_secs_f64(),
                s.doses_scheduled,
                s.doses_requested,
                s.sessions_scheduled,
                s.sessions_requested,
                s.sessions_in_preferred_window,
                s.sessions_with_continuing_therapist,
                s.client_days,
                s.chair_days,
                s.objective,
                s.iterations,
                s.stopped_by
            );
            let v = check(&p, &plan);
            if !v.is_empty() {
                eprintln!("VIOLATIONS: {v:#?}");
                std::process::exit(1);
            }
            println!("{}", plan.to_json());
        }
        Cmd::Bound { problem } => {
            let p = read_problem(&problem);
            let t = Instant::now();
            let b = kairos_schedule::bounds(&p, None).unwrap_or_else(|e| fail(&e.to_string()));
            eprintln!(
                "bound: {:.3} s; doses at most {}; sessions in the preferred window at most {}; {} of {} courses proven",
                t.elapsed().as_secs_f64(),
                b.doses,
                b.sessions_in_preferred_window,
                b.courses_proven,
                b.courses
            );
        }
        Cmd::Export { problem } => {
            let p = read_problem(&problem);
            let v = kairos_schedule::export_slot_model(&p).unwrap_or_else(|e| fail(&e.to_string()));
            println!("{v}");
        }
        Cmd::Check { problem, plan } => {
            let p = read_problem(&problem);
            let text = std::fs::read_to_string(&plan).unwrap_or_else(|e| fail(&format!("{plan}: {e}")));
            let plan = Plan::from_json(&text).unwrap_or_else(|e| fail(&format!("{plan}: {e}")));
            let v = check(&p, &plan);
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            if !v.is_empty() {
                std::process::exit(1);
            }
        }
        Cmd::RepairBench { problem, cancellations } => {
            let p = read_problem(&problem);
            let opts = Options::default();
            let plan = solve(&p, &opts).unwrap_or_else(|e| fail(&e.to_string()));
            let doses: Vec<&str> =
                plan.assignments.iter().filter(|a| a.kind == EventKind::Dose).map(|a| a.event.as_str()).collect();
            let mut times = vec![];
            let mut only_client = 0;
            let mut moved_total = 0;
            let mut lost_doses = 0;
            let (mut proven, mut limited, mut nodes) = (0, 0, vec![]);
            for i in 0..cancellations.min(doses.len()) {
                let ev = doses[(i * 7919) % doses.len()];
                let change = Change::Cancel { event: ev.to_string() };
                let t = Instant::now();
                let new = repair(&p, &plan, &change, &opts).unwrap_or_else(|e| fail(&e.to_string()));
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                let changed = apply_change(&p, &plan, &change).unwrap_or_else(|e| fail(&e.to_string()));
                let v = check(&changed, &new);
                if !v.is_empty() {
                    eprintln!("VIOLATIONS after repair of {ev}: {v:#?}");
                    std::process::exit(1);
                }
                if let Some(o) = &new.summary.own_only {
                    nodes.push(o.nodes);
                    match o.outcome {
                        kairos_schedule::OwnOnlyOutcome::ProvenImpossible => proven += 1,
                        kairos_schedule::OwnOnlyOutcome::SearchLimit => limited += 1,
                        kairos_schedule::OwnOnlyOutcome::Kept => {}
                    }
                    if std::env::var_os("VERBOSE").is_some() {
                        eprintln!("{ev}: {:?} {} ms: {}", o.outcome, new.summary.millis, o.detail);
                    }
                }
                let client =
                    plan.assignments.iter().find(|a| a.event == ev).map(|a| a.client.clone()).unwrap_or_default();
                let others = new
                    .moved
                    .iter()
                    .filter(|m| plan.assignments.iter().any(|a| a.event == m.event && a.client != client))
                    .count();
                if others == 0 {
                    only_client += 1;
                } else if std::env::var_os("VERBOSE").is_some() {
                    for m in &new.moved {
                        eprintln!(
                            "  {ev}: moved {} {} -> {:?} ({})",
                            m.event,
                            m.from.start,
                            m.to.as_ref().map(|t| &t.start),
                            m.reason
                        );
                    }
                }
                moved_total += new.moved.len();
                lost_doses += plan.summary.doses_scheduled.saturating_sub(new.summary.doses_scheduled);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            nodes.sort_unstable();
            let n = times.len().max(1);
            eprintln!(
                "repair after one cancellation, {} runs: median {:.1} ms, max {:.1} ms; moved only the client's own appointments in {}/{}; moved {:.2} per repair on average; doses lost {}; own-only proven impossible {}, search limit {}; exact-search nodes median {}, max {}",
                times.len(),
                times[n / 2],
                times[n - 1],
                only_client,
                times.len(),
                moved_total as f64 / n as f64,
                lost_doses,
                proven,
                limited,
                nodes.get(nodes.len() / 2).copied().unwrap_or(0),
                nodes.last().copied().unwrap_or(0)
            );
        }
    }
}
