//! Swarms over latency: seeders 5 to 200 ms away, each behind its own rate
//! cap (bench/shaped.py's `latency10` and `farfast` shapes, simulated). The
//! leecher must use nearly all of the capacity, so no peer may idle while
//! the others are busy, however far or slow it is, and must not download
//! much twice (the endgame's duplicates). With `LAT_DEBUG` set, the
//! leecher's peers are printed every 250 ms: outstanding/depth/rate/round trip.

use super::sim::{config, torrent, Sim};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

struct Outcome {
    /// The payload's size over the time from its first byte to its last,
    /// over the sum of the caps.
    share: f64,
    /// Bytes received over the payload's size.
    over: f64,
}

/// Seeders at (one-way delay in ms, bytes/s); one leecher, 256 KiB pieces.
fn swarm(seeders: &[(u64, f64)], len: usize) -> Outcome {
    let (meta, data) = torrent(len, 256 * 1024, 61);
    let n = meta.info.pieces.len();
    let mut sim = Sim::new();
    sim.latency = Duration::from_millis(1);
    let mut lcfg = config();
    for (i, &(delay, rate)) in seeders.iter().enumerate() {
        let mut scfg = config();
        scfg.seed = true;
        let s = sim.add_node(scfg, 100 + i as u64);
        sim.add_torrent(s, &meta, &data, vec![true; n]);
        sim.slow.insert(s, rate);
        sim.far.insert(s, Duration::from_millis(delay));
        lcfg.extra_peers.push(sim.addr(s));
    }
    let l = sim.add_node(lcfg, 7);
    sim.add_torrent(l, &meta, &data, vec![false; n]);
    let until = sim.now + Duration::from_secs(120);
    // Share of capacity from the first byte, as bench/shaped.py has it.
    while sim.nodes[l].engine.torrent(0).unwrap().downloaded == 0 && sim.now < until {
        sim.run_for(Duration::from_millis(5));
    }
    let first = sim.now;
    if std::env::var_os("LAT_DEBUG").is_some() {
        while !sim.complete(l, 0) && sim.now < until {
            sim.run_for(Duration::from_millis(250));
            let el = sim.elapsed().as_secs_f64();
            let e = &sim.nodes[l].engine;
            let line: Vec<String> = e.peers.iter().flatten().map(|p| format!("{}:{}/{}/{:.0}k/{:?}", p.addr.port() % 100, p.st.outstanding(), p.pipeline.depth(), p.pipeline.rate() / 1024.0, p.pipeline.min_rtt().map(|d| d.as_millis()))).collect();
            eprintln!("{:.2} room {} | {}", el, e.in_flight_room() / 16384, line.join(" "));
        }
    }
    assert!(sim.run_until(until, |s| s.complete(l, 0)), "not complete after 120 s");
    assert_eq!(sim.nodes[l].disk[&0], data);
    let capacity: f64 = seeders.iter().map(|s| s.1).sum();
    let t = sim.nodes[l].engine.torrent(0).unwrap();
    let out = Outcome {
        share: len as f64 / (sim.now - first).as_secs_f64() / capacity,
        over: t.downloaded as f64 / len as f64,
    };
    eprintln!(
        "{} seeders, {:.1} MiB/s in all: {:.2} s, share {:.3}, over-download {:.4}",
        seeders.len(),
        capacity / MIB as f64,
        sim.elapsed().as_secs_f64(),
        out.share,
        out.over
    );
    out
}

#[test]
fn ten_seeders_far_and_near_are_all_kept_busy() {
    // latency10: 5-75 ms one way, 0.5-8 MiB/s, 33.5 MiB/s in all.
    let m = MIB as f64;
    let shape = [
        (5, 0.5 * m),
        (13, 1.0 * m),
        (20, 1.5 * m),
        (28, 2.0 * m),
        (36, 2.5 * m),
        (44, 3.0 * m),
        (52, 4.0 * m),
        (60, 5.0 * m),
        (67, 6.0 * m),
        (75, 8.0 * m),
    ];
    let o = swarm(&shape, 128 * MIB);
    // The far link needs 5 round trips (2 s) to fill; after that it runs at
    // its cap (1 s of a second-long pipeline held it to 10 MiB/s before).
    assert!(o.share >= 0.6, "share of capacity {:.3}", o.share);
    assert!(o.over <= 1.02, "over-download {:.4}", o.over);
}

#[test]
fn one_fast_far_seeder_is_filled_beside_slow_near_ones() {
    // farfast: 20 MiB/s at 200 ms one way, three at 1 MiB/s 5 ms away.
    let m = MIB as f64;
    let shape = [(200, 20.0 * m), (5, m), (5, m), (5, m)];
    let o = swarm(&shape, 128 * MIB);
    // The far link needs 5 round trips (2 s) to fill; after that it runs at
    // its cap (1 s of a second-long pipeline held it to 10 MiB/s before).
    assert!(o.share >= 0.6, "share of capacity {:.3}", o.share);
    assert!(o.over <= 1.02, "over-download {:.4}", o.over);
}

