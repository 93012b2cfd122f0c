//! The fixture loader: any bytes as a YAML and as a JSON fixture file, and every fixture that
//! parses checked against a running emulator's resources, rules and subscriptions (the check
//! that `--fixtures` and `POST /_emulator/fixtures` run before changing anything).
//!
//! Property: never panics, whatever the text (deep nesting, YAML aliases, huge numbers, bad
//! UTF-8 is rejected before parsing, as the control API does).
#![no_main]

use std::sync::{Arc, LazyLock};

use acs_emulator::clock::Clock;
use acs_emulator::config::Config;
use acs_emulator::events::EventBus;
use acs_emulator::fixtures;
use acs_emulator::resource::{Resource, Resources};
use acs_emulator::scenario::Engine;
use acs_emulator::startup::bus_options;
use libfuzzer_sys::fuzz_target;

struct World {
    resources: Resources,
    engine: Engine,
    events: EventBus,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let settings = Config::for_tests().validate().expect("test config");
    World {
        resources: Resources::new(
            Resource::from_settings(&settings, &[7; 32], None),
            settings.config.resource.max_resources,
            acs_emulator::resource::default_hosts(settings.config.listeners.host),
        ),
        engine: Engine::new(Some(1)),
        events: EventBus::new(bus_options(&settings), Arc::new(Clock::system())),
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let world = &*WORLD;
    let operations = acs_emulator::api::rule_operations();
    for json in [false, true] {
        if let Ok(fixture) = fixtures::parse("fuzz", text, json, &operations) {
            let _ = fixtures::check(
                "fuzz",
                text,
                fixture,
                &world.resources,
                &world.engine,
                &world.events,
            );
        }
    }
});
