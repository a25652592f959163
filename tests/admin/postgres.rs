//! The store on a real PostgreSQL server: `PORTCULLIS_TEST_PG` is its URL (`.ci/run` starts
//! one). Without it these tests fail under CI and are skipped, loudly, elsewhere.
