//! The slot model exported for the CP-SAT reference (`bench/schedule/cpsat.py`)
//! carries the problem's bookings as the engine treats them: a fixed booking
//! that still fits is `held` (the reference keeps it in place), one that no
//! longer fits, or a freed one, is not.

use kairos_schedule::{Booking, GenParams, Options, export_slot_model, generate, solve};

#[test]
fn the_export_marks_the_fixed_bookings_the_engine_holds() {
    let mut problem = generate(&GenParams {
        clients: 8,
        chairs: 2,
        therapists: 2,
        monitors: 2,
        days: 14,
        seed: 3,
        ..GenParams::default()
    });
    let plan = solve(&problem, &Options::default()).expect("solve");
    let first = plan.assignments[0].client.clone();
    let second = plan.assignments.iter().find(|a| a.client != first).expect("two clients").client.clone();
    // One client's whole plan booked and fixed, another's freed.
    for a in plan.assignments.iter().filter(|a| a.client == first || a.client == second) {
        problem.booked.push(Booking {
            event: a.event.clone(),
            start: a.start.clone(),
            chair: a.chair.clone(),
            room: a.room.clone(),
            staff: Some(a.staff.clone()),
            fixed: a.client == first,
        });
    }
    let held = |problem: &kairos_schedule::Problem| -> Vec<(String, bool, bool)> {
        let model = export_slot_model(problem).expect("export");
        let events = model["events"].as_array().expect("events");
        model["booked"]
            .as_array()
            .expect("booked")
            .iter()
            .map(|b| {
                let e = b["event"].as_u64().expect("event") as usize;
                (
                    events[e]["id"].as_str().expect("id").to_string(),
                    b["fixed"].as_bool().expect("fixed"),
                    b["held"].as_bool().expect("held"),
                )
            })
            .collect()
    };
    let booked = held(&problem);
    assert_eq!(booked.len(), problem.booked.len(), "every booking is exported");
    for (event, fixed, held) in &booked {
        assert_eq!(fixed, held, "{event}: a fixed booking from a valid plan is held, a freed one is not");
    }
    // A fixed dose moved to 03:00, when the site is closed, is no longer held.
    let i = problem.booked.iter().position(|b| b.fixed && b.chair.is_some()).expect("a fixed dose");
    let start = problem.booked[i].start.clone();
    problem.booked[i].start = format!("{}03:00:00{}", &start[..11], &start[19..]);
    let dose = problem.booked[i].event.clone();
    let booked = held(&problem);
    assert!(booked.iter().any(|(e, fixed, held)| *e == dose && *fixed && !*held), "{booked:?}");
}
