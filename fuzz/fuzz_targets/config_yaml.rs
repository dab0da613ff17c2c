//! Arbitrary text -> `config::from_yaml`: must not panic (serde_yaml, the value newtypes, the
//! cross-field checks, the `FILE:LINE:COL` locator), and a config that loads must print
//! (`check-config`) as YAML that loads back to the same config.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match davaudit::config::from_yaml(text, "fuzz.yaml") {
        Ok(config) => {
            let printed = config.to_yaml();
            let again = davaudit::config::from_yaml(&printed, "printed.yaml")
                .unwrap_or_else(|e| panic!("the printed config does not load: {e}\n{printed}"));
            assert_eq!(
                again, config,
                "the printed config loads differently:\n{printed}"
            );
        }
        Err(error) => {
            let _ = error.to_string();
            if let Some((line, column)) = error.location() {
                assert!(line >= 1 && column >= 1, "0-based location: {error}");
            }
        }
    }
});
