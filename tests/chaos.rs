//! Reliability under faults (`make chaos`; the short variant runs in `make test`).
//!
//! Three scenarios, each ending with an exact full-set comparison: every ConfigMap in the
//! scenario's namespace on each member must be exactly what the host's FederatedConfigMaps
//! render to (nothing lost, nothing extra, nothing stale), and after the delete wave no
//! federated object may keep kfed's finalizer.
//!
//! 1. member outage: member2's kube-apiserver stops in the middle of a create wave and
//!    comes back after a while; member1 converges meanwhile, member2 within 30 s of its return.
//! 2. operator crash: `kfed controller` is SIGKILLed at random moments of a create, an
//!    update and a delete wave, and restarted each time.
//! 3. leader failover: two replicas with `--leader-elect`; the leader is SIGKILLed mid-wave
//!    and the standby takes over within the lease duration.
//!
//! `KFED_CHAOS=full` selects the scale (2,000 objects and 60 s outage; 10 kills over
//! ~1,000 objects; failover over 1,000 objects); the default is a short variant of about
//! three minutes. The random moments come from a seeded generator: every scenario prints
//! its seed, and `KFED_CHAOS_SEED=<seed>` replays a run.

mod common;
#[path = "chaos/world.rs"]
mod world;

use common::Controller;
use serde_json::Value;
use std::time::{Duration, Instant};
use world::{
    LEASE_DURATION, MemberDown, Rng, Scale, Tally, World, expected_state, federated_configmap, kill, object_name, secs,
    summary, wait_log,
};

const BOTH: [&str; 2] = ["member1", "member2"];
/// How soon member2 must hold everything again once its API server is back (issue 6), on
/// a machine that converged member1 within half of it.
const MEMBER_CATCH_UP: Duration = Duration::from_secs(30);

fn docs(ns: &str, n: usize, version: u32) -> Vec<Value> {
    (0..n).map(|i| federated_configmap(ns, i, version)).collect()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(object_name).collect()
}

#[test]
fn member_outage_in_the_middle_of_a_create_wave() {
    let test_started = Instant::now();
    let scale = Scale::from_env();
    let scenario = "member-outage";
    let mut rng = Rng::for_scenario(scenario);
    let world = World::new("kfed-t-chaos-outage");
    let n = scale.outage_objects;
    let controller = Controller::start(&world.tb, "chaos-outage", &[]);
    world.wait_namespace_in_members();

    let v1 = docs(&world.ns, n, 1);
    let expected = expected_state(&v1);
    let stop_at = rng.between(0.3, 0.7);
    let wave_started = Instant::now();
    let wave = world.spawn_apply(v1.clone());
    while (wave.done() as f64) < stop_at * n as f64 && !wave.finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let written_at_stop = wave.done();
    let down = MemberDown::stop(&world.tb, "member2");
    let stopped = Instant::now();
    // Nothing reaches member2 from here to its return: what it holds afterwards that was
    // created after this moment (one second later, the timestamps' granularity) is what
    // it caught up on.
    let caught_up_after = std::time::SystemTime::now() + Duration::from_secs(1);
    println!(
        "chaos: {scenario}: member2 stopped after {written_at_stop} of {n} host writes, {} into the wave",
        secs(wave_started.elapsed())
    );

    // member1 converges as if nothing happened, while member2 is still down: the outage
    // lasts its planned time, and longer when member1 needs longer (a loaded machine).
    world.converge(&["member1"], &expected, "member1 while member2 is down", |_| false);
    let member1_converged = wave_started.elapsed();
    let accepted = wave.finish(&world);
    println!(
        "chaos: {scenario}: host accepted {n} objects in {}; member1 converged {} after the wave started, member2 still down",
        secs(accepted),
        secs(member1_converged)
    );
    std::thread::sleep(scale.outage_down.saturating_sub(stopped.elapsed()));
    let outage = stopped.elapsed();
    down.start();
    let back = Instant::now();
    // What member2 lacked when it came back (its first answer), to read the catch-up time by.
    let mut missing_at_return = None;
    let member2_caught_up = world.converge(&BOTH, &expected, "both members after member2's return", |diff| {
        missing_at_return.get_or_insert_with(|| {
            diff.lost
                .iter()
                .chain(&diff.stale)
                .filter(|o| o.starts_with("member2/"))
                .count()
        });
        false
    });
    // Observed at the test's first poll after the return, which on a loaded machine comes
    // after kfed's first writes: reported, while the exact count is the objects created.
    let missing_at_return = missing_at_return.unwrap_or_default();
    let created_after_return = world.created_since("member2", caught_up_after);
    // member2's API server counts from its restart: the catch-up waited for kfed's
    // cache of member2 instead of reading objects one by one, and wrote each missing
    // object once.
    let catch_up_reads = world.tb.requests("member2", "GET", "configmaps", false);
    let catch_up_writes = world.tb.requests("member2", "APPLY", "configmaps", true);
    println!(
        "chaos: {scenario}: member2 served {catch_up_reads} ConfigMap reads and {catch_up_writes} successful applies since its return, and created {created_after_return} ConfigMaps ({missing_at_return} missing at the test's first look)"
    );
    world.wait_statuses(scenario);
    let statuses_settled = back.elapsed();
    let mut tally = world.check_exact(&v1, &format!("{scenario}: after member2's return"));

    let wave = world.spawn_delete(names(n));
    let (deleted, t) = world.wait_deleted(2 * n, &format!("{scenario}: delete wave"));
    wave.finish(&world);
    tally += t;
    world.delete_namespace_through_the_operator();
    controller.stop();

    summary(
        test_started,
        &format!(
            "{scenario} ({}) faults=1 objects={n} {} member2-down={} member1-converged={} (during the outage) member2-converged-after-restart={} (missing {missing_at_return}) statuses-settled-after-restart={} delete-wave={}",
            scale.variant,
            tally.fields(),
            secs(outage),
            secs(member1_converged),
            secs(member2_caught_up),
            secs(statuses_settled),
            secs(deleted)
        ),
    );
    tally.assert_clean(scenario);
    // A reconcile can still race the start of member2's watch and read once (seen
    // in CI: 1 read for 96 objects); reading every missing object is the failure.
    assert!(
        catch_up_reads * 10 <= created_after_return as u64,
        "{catch_up_reads} single ConfigMap reads in member2 after its return, for {created_after_return} missing objects"
    );
    // One apply per object member2 lacked; on a loaded machine an object reconciled again
    // (say, all of them after another member's health flapped) before member2's watch shows
    // kfed's own create is applied once more: tolerated up to twice, never more.
    assert!(
        (created_after_return as u64..=2 * created_after_return as u64).contains(&catch_up_writes),
        "{catch_up_writes} successful ConfigMap applies in member2 after its return, for {created_after_return} objects it lacked (one each, at most two)"
    );
    // Catching up on at most n objects takes no longer than member1 took to converge on
    // the same n objects in this run, twice over (issue 6's 30 s on a quiet machine).
    let catch_up_bound = MEMBER_CATCH_UP.max(member1_converged * 2);
    assert!(
        member2_caught_up <= catch_up_bound,
        "member2 converged {} after its API server came back, with {created_after_return} objects to catch up on; the bound is {} (member1 converged the wave in {})",
        secs(member2_caught_up),
        secs(catch_up_bound),
        secs(member1_converged)
    );
}

#[derive(Clone, Copy, PartialEq)]
enum WaveKind {
    Create,
    Update,
    Delete,
}

impl WaveKind {
    fn name(self) -> &'static str {
        match self {
            WaveKind::Create => "create",
            WaveKind::Update => "update",
            WaveKind::Delete => "delete",
        }
    }
}

#[test]
fn operator_sigkilled_across_create_update_and_delete_waves() {
    let test_started = Instant::now();
    let scale = Scale::from_env();
    let scenario = "operator-crash";
    let mut rng = Rng::for_scenario(scenario);
    let world = World::new("kfed-t-chaos-crash");
    let n = scale.crash_objects;
    // At least one kill per wave, the rest spread at random.
    let mut per_wave = [1usize; 3];
    for _ in 3..scale.crash_kills {
        per_wave[rng.below(3)] += 1;
    }
    let mut controller = Some(Controller::start(&world.tb, "chaos-crash-0", &[]));
    world.wait_namespace_in_members();

    let mut tally = Tally::default();
    let mut kills = 0usize;
    let mut report = Vec::new();
    for (kind, planned) in [WaveKind::Create, WaveKind::Update, WaveKind::Delete]
        .into_iter()
        .zip(per_wave)
    {
        let wave_name = kind.name();
        let model = match kind {
            WaveKind::Create => docs(&world.ns, n, 1),
            WaveKind::Update => docs(&world.ns, n, 2),
            WaveKind::Delete => Vec::new(),
        };
        let expected = expected_state(&model);
        let moments = rng.moments(planned, 0.05, 0.95);
        let wave = match kind {
            WaveKind::Delete => world.spawn_delete(names(n)),
            _ => world.spawn_apply(model.clone()),
        };
        let started = Instant::now();
        let initial_member_objects = (2 * n) as f64;
        let mut next = 0;
        let converged = world.converge(
            &BOTH,
            &expected,
            &format!("{scenario}: {wave_name} wave"),
            |diff| {
                let progress = match kind {
                    WaveKind::Delete => 1.0 - diff.present as f64 / initial_member_objects,
                    _ => diff.matched(),
                };
                if next < moments.len() && progress >= moments[next] {
                    kill(controller.take().expect("a controller runs"));
                    kills += 1;
                    println!(
                        "chaos: {scenario}: SIGKILL #{kills} in the {wave_name} wave at {:.0}% (planned {:.0}%), {} after it started",
                        progress * 100.0,
                        moments[next] * 100.0,
                        secs(started.elapsed())
                    );
                    std::thread::sleep(Duration::from_millis(rng.below(1000) as u64));
                    controller = Some(Controller::start(&world.tb, &format!("chaos-crash-{kills}"), &[]));
                    next += 1;
                }
                next < moments.len()
            },
        );
        wave.finish(&world);
        match kind {
            WaveKind::Delete => {
                let (_, t) = world.wait_deleted(2 * n, &format!("{scenario}: delete wave"));
                tally += t;
            }
            _ => {
                world.wait_statuses(&format!("{scenario}: {wave_name} wave"));
                tally += world.check_exact(&model, &format!("{scenario}: {wave_name} wave"));
            }
        }
        report.push(format!(
            "{wave_name}={} (kills={planned})",
            secs(started.elapsed().max(converged))
        ));
    }
    let controller = controller.expect("a controller runs");
    world.delete_namespace_through_the_operator();
    controller.stop();

    summary(
        test_started,
        &format!(
            "{scenario} ({}) faults={kills} objects={n} {} waves-converged: {}",
            scale.variant,
            tally.fields(),
            report.join(" ")
        ),
    );
    assert_eq!(kills, scale.crash_kills, "every planned SIGKILL happened");
    tally.assert_clean(scenario);
}

#[test]
fn leader_sigkilled_mid_wave_and_the_standby_takes_over() {
    let test_started = Instant::now();
    let scale = Scale::from_env();
    let scenario = "leader-failover";
    let mut rng = Rng::for_scenario(scenario);
    let world = World::new("kfed-t-chaos-failover");
    let n = scale.failover_objects;
    let leader = Controller::start(
        &world.tb,
        "chaos-leader-a",
        &["--leader-elect", "--identity", "chaos-a"],
    );
    // A Lease left by a killed replica of an earlier test expires first.
    common::eventually("chaos-a to hold the Lease", Duration::from_secs(60), || {
        (world.lease()?.0.as_deref() == Some("chaos-a")).then_some(())
    });
    wait_log(&leader, "became the leader", Duration::from_secs(30));
    let standby = Controller::start(
        &world.tb,
        "chaos-leader-b",
        &["--leader-elect", "--identity", "chaos-b"],
    );
    wait_log(&standby, "waiting to become the leader", Duration::from_secs(30));
    world.wait_namespace_in_members();

    let v1 = docs(&world.ns, n, 1);
    let expected = expected_state(&v1);
    let kill_at = rng.between(0.25, 0.75);
    let wave_started = Instant::now();
    let wave = world.spawn_apply(v1.clone());
    let mut leader = Some(leader);
    let mut failover = None;
    world.converge(&BOTH, &expected, &format!("{scenario}: wave"), |diff| {
        if diff.matched() < kill_at {
            return false;
        }
        let Some(mut old) = leader.take() else {
            return false;
        };
        let standby_log = std::fs::read_to_string(&standby.log).unwrap_or_default();
        if standby_log.contains("sync controllers starting") {
            // The standby took over before the planned kill: only allowed when the leader
            // had stopped acting, that is exited, its renewals starved past the deadline.
            let leader_log = std::fs::read_to_string(&old.log).unwrap_or_default();
            assert!(
                old.exited(),
                "the standby reconciled while the leader still ran:\n{standby_log}\nleader:\n{leader_log}"
            );
            assert!(
                leader_log.contains("lost leadership"),
                "the leader ended without losing the Lease:\n{leader_log}"
            );
            println!("chaos: {scenario}: the leader stepped down on its own before the planned kill (a starved machine)");
            failover = Some((Instant::now(), Duration::ZERO, None));
            return false;
        }
        let progress = diff.matched();
        kill(old);
        let killed = Instant::now();
        // The killed leader's last renewal: no one may take the Lease before it expires.
        let (holder, last_renewal) = common::eventually("the Lease", Duration::from_secs(10), || world.lease());
        assert_eq!(holder.as_deref(), Some("chaos-a"), "the leader held the Lease until killed");
        let takeover = common::eventually("chaos-b to take the Lease", Duration::from_secs(60), || {
            (world.lease()?.0.as_deref() == Some("chaos-b")).then(|| killed.elapsed())
        });
        let acquired = common::eventually("the new holder's acquireTime", Duration::from_secs(10), || {
            world.lease_acquired()
        });
        let waited = last_renewal.map(|r| Duration::from_millis((acquired - r).max(0) as u64));
        println!(
            "chaos: {scenario}: leader SIGKILLed at {:.0}% (planned {:.0}%), {} into the wave; chaos-b took the Lease {} later",
            progress * 100.0,
            kill_at * 100.0,
            secs(killed.duration_since(wave_started)),
            secs(takeover)
        );
        failover = Some((killed, takeover, waited));
        false
    });
    let (killed, takeover, waited) = failover.expect("the leader was killed during the wave");
    let completed = killed.elapsed();
    wave.finish(&world);
    wait_log(&standby, "became the leader", Duration::from_secs(10));
    world.wait_statuses(scenario);
    let mut tally = world.check_exact(&v1, &format!("{scenario}: after the takeover"));

    let wave = world.spawn_delete(names(n));
    let (deleted, t) = world.wait_deleted(2 * n, &format!("{scenario}: delete wave"));
    wave.finish(&world);
    tally += t;
    world.delete_namespace_through_the_operator();
    standby.stop();

    let waited_text = waited.map(secs).unwrap_or_else(|| "?".into());
    summary(
        test_started,
        &format!(
            "{scenario} ({}) faults=1 objects={n} {} takeover-after-kill={} last-renewal-to-takeover={waited_text} wave-completed-after-kill={} delete-wave={}",
            scale.variant,
            tally.fields(),
            secs(takeover),
            secs(completed),
            secs(deleted)
        ),
    );
    tally.assert_clean(scenario);
    // The standby takes the Lease once it has seen the record unchanged for the lease
    // duration; it looks every 2-2.4 s, so it saw the last renewal up to that late. Twice
    // the lease duration catches a standby that never takes over, not a slow machine.
    assert!(
        takeover <= LEASE_DURATION * 2,
        "the standby took over {} after the leader was killed; the lease lasts {}",
        secs(takeover),
        secs(LEASE_DURATION)
    );
    if let Some(waited) = waited {
        assert!(
            waited + Duration::from_millis(50) >= LEASE_DURATION,
            "the standby took the Lease {} after the leader's last renewal, before it expired ({})",
            secs(waited),
            secs(LEASE_DURATION)
        );
    }
}
