use super::*;

/// Parses a YAML list of rules, compiles them and applies them to `input`.
fn run(rules: &str, input: &[(&str, &str)]) -> Want {
    let cfgs: Vec<RelabelConfig> = serde_yaml::from_str(rules).expect("test YAML");
    let rules: Vec<RelabelRule> = cfgs
        .iter()
        .map(|c| RelabelRule::compile(c).expect("valid rule"))
        .collect();
    let mut lb = LabelBuilder::new();
    for (k, v) in input {
        lb.set(k, v);
    }
    process(&mut lb, &rules).then(|| lb.snapshot())
}

fn pairs(p: &[(&str, &str)]) -> Want {
    let mut v: Vec<(String, String)> = p
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    Some(v)
}

/// Expected labels, or `None` when the set is dropped.
type Want = Option<Vec<(String, String)>>;

/// (name, rules as YAML, input labels, expected).
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Want);

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];

#[test]
fn relabel_table() {
    // (name, rules, input, expected output or None for "dropped")
    let cases: Vec<Case> = vec![
        (
            "replace with braces",
            "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
            ABC,
            pairs(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
        ),
        (
            "chained replaces see earlier results",
            "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}\n\
             - {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}",
            ABC,
            pairs(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        ),
        (
            "drop on match stops processing",
            "- {source_labels: [a], regex: '.*o.*', action: drop}\n\
             - {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1'}",
            &[("a", "foo")],
            None,
        ),
        (
            "drop without match keeps",
            "- {source_labels: [b], regex: '.*o.*', action: drop}",
            &[("a", "foo"), ("b", "bar")],
            pairs(&[("a", "foo"), ("b", "bar")]),
        ),
        (
            "keep without match drops",
            "- {source_labels: [a], regex: 'no-match', action: keep}",
            ABC,
            None,
        ),
        (
            "regex is anchored",
            "- {source_labels: [a], regex: 'o', action: keep}",
            &[("a", "foo")],
            None,
        ),
        (
            "keep on match",
            "- {source_labels: [a], regex: 'f.*', action: keep}",
            &[("a", "foo")],
            pairs(&[("a", "foo")]),
        ),
        (
            "replace without match changes nothing",
            "- {source_labels: [a], regex: 'x(.*)', target_label: a, replacement: 'y'}",
            &[("a", "foo")],
            pairs(&[("a", "foo")]),
        ),
        (
            "empty replacement deletes the target",
            "- {source_labels: [a], regex: '(.*)', target_label: b, replacement: ''}",
            &[("a", "foo"), ("b", "bar")],
            pairs(&[("a", "foo")]),
        ),
        (
            "default regex on absent source writes replacement verbatim",
            "- {target_label: env, replacement: prod}",
            &[("a", "foo")],
            pairs(&[("a", "foo"), ("env", "prod")]),
        ),
        (
            "defaults copy a label",
            "- {source_labels: [a], target_label: z}",
            &[("a", "foo")],
            pairs(&[("a", "foo"), ("z", "foo")]),
        ),
        (
            "absent source joins as empty",
            "- {source_labels: [a, missing, b], target_label: z}",
            &[("a", "foo"), ("b", "bar")],
            pairs(&[("a", "foo"), ("b", "bar"), ("z", "foo;;bar")]),
        ),
        (
            "custom and empty separators",
            "- {source_labels: [a, b], separator: '', target_label: y}\n\
             - {source_labels: [a, b], separator: '-', target_label: z}",
            &[("a", "foo"), ("b", "bar")],
            pairs(&[("a", "foo"), ("b", "bar"), ("y", "foobar"), ("z", "foo-bar")]),
        ),
        (
            "templated target label",
            "- {source_labels: [a], regex: '(f)(.*)', target_label: '${2}_x', replacement: '$1'}",
            &[("a", "foo")],
            pairs(&[("a", "foo"), ("oo_x", "f")]),
        ),
        (
            "templated target expanding to an invalid name is skipped",
            "- {source_labels: [a], target_label: '$1', replacement: 'x'}",
            &[("a", "1bad")],
            pairs(&[("a", "1bad")]),
        ),
        (
            "$1x is the group named 1x, i.e. empty, so the target is deleted",
            "- {source_labels: [a], regex: '(f)oo', target_label: b, replacement: '$1x'}",
            &[("a", "foo"), ("b", "bar")],
            pairs(&[("a", "foo")]),
        ),
        (
            "${1}x and $$",
            "- {source_labels: [a], regex: '(f)oo', target_label: b, replacement: '${1}x$$'}",
            &[("a", "foo")],
            pairs(&[("a", "foo"), ("b", "fx$")]),
        ),
        (
            "named groups",
            "- {source_labels: [a], regex: '(?P<first>.)(?P<rest>.*)', target_label: b, replacement: '${rest}-$first'}",
            &[("a", "foo")],
            pairs(&[("a", "foo"), ("b", "oo-f")]),
        ),
        (
            "hashmod as Prometheus computes it",
            "- {source_labels: [c], target_label: d, modulus: 1000, action: hashmod}",
            ABC,
            pairs(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
        ),
        (
            "hashmod over a newline",
            "- {source_labels: [a], target_label: b, modulus: 1000, action: hashmod}",
            &[("a", "foo\nbar")],
            pairs(&[("a", "foo\nbar"), ("b", "734")]),
        ),
        (
            "labelmap",
            "- {regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            pairs(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("bar_b1", "bar"),
                ("bar_b2", "baz"),
            ]),
        ),
        (
            "labelmap of meta labels with default replacement",
            "- {regex: '__meta_(.+)', action: labelmap}",
            &[("__meta_zone", "eu"), ("a", "foo")],
            pairs(&[("__meta_zone", "eu"), ("a", "foo"), ("zone", "eu")]),
        ),
        (
            "labeldrop",
            "- {regex: 'b.*', action: labeldrop}",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            pairs(&[("a", "foo")]),
        ),
        (
            "labelkeep",
            "- {regex: 'b.*', action: LabelKeep}",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            pairs(&[("b1", "bar"), ("b2", "baz")]),
        ),
        (
            "lowercase and uppercase",
            "- {source_labels: [a], target_label: lo, action: lowercase}\n\
             - {source_labels: [a], target_label: up, action: uppercase}",
            &[("a", "FoO")],
            pairs(&[("a", "FoO"), ("lo", "foo"), ("up", "FOO")]),
        ),
        (
            "keepequal keeps equal",
            "- {source_labels: [a], target_label: b, action: keepequal}",
            &[("a", "x"), ("b", "x")],
            pairs(&[("a", "x"), ("b", "x")]),
        ),
        (
            "keepequal drops different",
            "- {source_labels: [a], target_label: b, action: keepequal}",
            &[("a", "x"), ("b", "y")],
            None,
        ),
        (
            "dropequal drops equal",
            "- {source_labels: [a], target_label: b, action: dropequal}",
            &[("a", "x"), ("b", "x")],
            None,
        ),
        (
            "dropequal keeps different",
            "- {source_labels: [a], target_label: b, action: dropequal}",
            &[("a", "x"), ("b", "y")],
            pairs(&[("a", "x"), ("b", "y")]),
        ),
        (
            "regex matches across newlines",
            "- {source_labels: [a], regex: 'foo.bar', action: keep}",
            &[("a", "foo\nbar")],
            pairs(&[("a", "foo\nbar")]),
        ),
    ];
    for (name, rules, input, want) in cases {
        assert_eq!(run(rules, input), want, "case {name:?}");
    }
}

#[test]
fn validation_table() {
    let cases = [
        ("{source_labels: [a]}", "requires 'target_label'"),
        ("{action: hashmod, target_label: x}", "non-zero modulus"),
        ("{action: frobnicate}", "unknown relabel action"),
        (
            "{action: labeldrop, source_labels: [a], regex: x}",
            "requires only 'regex'",
        ),
        (
            "{action: labelkeep, target_label: a}",
            "requires only 'regex'",
        ),
        (
            "{action: keepequal, source_labels: [a], target_label: b, regex: x}",
            "no other fields",
        ),
        (
            "{action: lowercase, source_labels: [a], target_label: b, replacement: x}",
            "can not be set",
        ),
        (
            "{source_labels: [a], target_label: 1abc}",
            "invalid 'target_label'",
        ),
        (
            "{action: hashmod, source_labels: [a], target_label: a-b, modulus: 2}",
            "invalid 'target_label'",
        ),
        (
            "{action: labelmap, regex: x, replacement: '1abc'}",
            "invalid 'replacement'",
        ),
        (
            "{source_labels: [a], target_label: b, regex: '('}",
            "invalid regex",
        ),
    ];
    for (yaml, want) in cases {
        let cfg: RelabelConfig = serde_yaml::from_str(yaml).expect("test YAML");
        let err = RelabelRule::compile(&cfg).expect_err(yaml).to_string();
        assert!(err.contains(want), "{yaml}: got {err:?}, want {want:?}");
    }
    // Templated targets and default labelmap replacement are valid.
    for ok in [
        "{source_labels: [a], target_label: '${1}_x'}",
        "{action: labelmap, regex: '__meta_(.+)'}",
        "{action: Replace, target_label: a}",
    ] {
        let cfg: RelabelConfig = serde_yaml::from_str(ok).expect("test YAML");
        assert!(RelabelRule::compile(&cfg).is_ok(), "{ok}");
    }
    assert!(serde_yaml::from_str::<RelabelConfig>("{regexx: a}").is_err());
}

#[test]
fn expand_go_semantics() {
    let re = anchored_regex("(a)(?P<n>b)?(c)").unwrap();
    let caps = re.captures("ac").unwrap();
    assert_eq!(expand("$1-$2-$3", &re, &caps), "a--c");
    assert_eq!(expand("${n}|$n|$9|$01", &re, &caps), "|||");
    assert_eq!(expand("$ {1} ${1 $", &re, &caps), "$ {1} ${1 $");
}
