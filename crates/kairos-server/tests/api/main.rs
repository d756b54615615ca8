//! One integration-test binary (each file under tests/ would link its own).
//! Every test starts the real server on a random port over a database of its
//! own: SQLite, or PostgreSQL when KAIROS_TEST_POSTGRES_URL is set.

mod audit;
mod auth;
mod browser;
mod clients;
mod clinic_day_browser;
mod dosing;
mod dosing_records;
mod errors;
mod front_desk;
mod front_desk_browser;
mod fuzz_forms;
mod groups;
mod headers;
mod helpers;
mod input_hygiene;
mod inventories;
mod ledger;
mod ledger_pages;
mod measures;
mod mfa;
mod mfa_browser;
mod multi_node;
mod notes;
mod openapi;
mod portal;
mod portal_browser;
mod portal_crisis;
mod portal_email;
mod pre_dose_safety;
mod protocols;
mod relations;
mod reminders;
mod rems_browser;
mod roles;
mod routes;
mod same_refusal;
mod schedule;
mod screening;
mod security_browser;
mod staff_approvals;
mod staff_pages;
mod time_zones;
mod ui;
mod windows_booking;
