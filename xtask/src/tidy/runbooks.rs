//! Tidy checks for `dr-runbooks/`: every runbook is there with its sections,
//! every step is one command with a check and a roll-back, and every
//! `cargo xtask` line an operator would copy at 3 a.m. parses as a command
//! line of this xtask, so a renamed command or flag breaks a test here, not
//! a failover.

use std::path::{Path, PathBuf};

/// The runbooks besides the README: procedures with numbered steps.
const PROCEDURES: [&str; 6] = [
    "failover.md",
    "failback.md",
    "restore-policy.md",
    "restore-records.md",
    "undo-remediation.md",
    "drill.md",
];

/// The sections every procedure has, in this order (others may come
/// between or after them).
const SECTIONS: [&str; 4] = [
    "Outcome",
    "When to use it",
    "Prerequisites and permissions",
    "Steps",
];

/// The placeholders the runbooks write in commands, each with a value of
/// the kind the command reads there.
const PLACEHOLDERS: [(&str, &str); 12] = [
    ("GROUP/EVENT", "sg-0123/ev-1"),
    ("ACCOUNT_ID", "123456789012"),
    ("YYYY-MM-DD", "2026-12-31"),
    ("REGION", "us-west-2"),
    ("BUCKET", "moat-policies-123456789012-us-east-1"),
    ("TIME", "2026-12-01T03:00:00Z"),
    ("FILE", "policies/default.json"),
    ("TEXT", "incident 42"),
    (
        "ARN",
        "arn:aws:states:us-east-1:123456789012:execution:moat-remediation:x",
    ),
    ("ID", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"),
    ("MS", "100"),
    ("N", "10"),
];

fn runbooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("dr-runbooks")
}

fn read(name: &str) -> String {
    let path = runbooks_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every runbook: the README first.
fn all_runbooks() -> Vec<&'static str> {
    std::iter::once("README.md").chain(PROCEDURES).collect()
}

/// One line of a runbook, numbered from 1, and whether it is inside a
/// fenced block (the fence lines themselves count as inside).
struct Line<'a> {
    number: usize,
    text: &'a str,
    fenced: bool,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut open = false;
    text.lines()
        .enumerate()
        .map(|(index, text)| {
            let fence = text.trim_start().starts_with("```");
            let fenced = open || fence;
            if fence {
                open = !open;
            }
            Line {
                number: index + 1,
                text,
                fenced,
            }
        })
        .collect()
}

/// A fenced block: the line of its opening fence, its language and its
/// lines.
struct Block {
    line: usize,
    language: String,
    body: Vec<(usize, String)>,
}

fn blocks(lines: &[Line<'_>]) -> Vec<Block> {
    let mut found = Vec::new();
    let mut current: Option<Block> = None;
    for line in lines {
        let trimmed = line.text.trim_start();
        if let Some(language) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => found.push(block),
                None => {
                    current = Some(Block {
                        line: line.number,
                        language: language.trim().to_owned(),
                        body: Vec::new(),
                    });
                }
            }
        } else if let Some(block) = &mut current {
            block.body.push((line.number, trimmed.to_owned()));
        }
    }
    assert!(current.is_none(), "a fenced block is never closed");
    found
}

/// The shell commands of a block, one per logical line: continuations
/// (`\` at the end) joined, blank lines and comments left out.
fn shell_commands(block: &Block) -> Vec<(usize, String)> {
    let mut commands = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (number, text) in &block.body {
        let text = text.trim();
        if pending.is_none() && (text.is_empty() || text.starts_with('#')) {
            continue;
        }
        let text = text.split(" # ").next().unwrap_or_default();
        let (start, mut joined) = pending.take().unwrap_or((*number, String::new()));
        match text.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(text);
                commands.push((start, joined));
            }
        }
    }
    if let Some(last) = pending {
        commands.push(last);
    }
    commands
}

/// The arguments after `cargo xtask` in a shell command line, or none: a
/// command ends where the shell starts another one.
fn xtask_calls(command: &str) -> Vec<String> {
    command
        .split("cargo xtask ")
        .skip(1)
        .map(|call| {
            call.split(['|', ';', '&'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

/// A runbook's `cargo xtask` command lines with the line each starts on:
/// from its `sh` blocks, and from inline code that starts with
/// `cargo xtask ` (a check or a roll-back written in the text).
fn xtask_lines(text: &str) -> Vec<(usize, String)> {
    let lines = lines(text);
    let mut found = Vec::new();
    for block in blocks(&lines).iter().filter(|block| block.language == "sh") {
        for (number, command) in shell_commands(block) {
            for call in xtask_calls(&command) {
                found.push((number, call));
            }
        }
    }
    // Inline code may wrap, so spans are read per paragraph.
    for paragraph in paragraphs(&lines) {
        let (number, text) = paragraph;
        for span in text.split('`').skip(1).step_by(2) {
            if let Some(call) = span.strip_prefix("cargo xtask ") {
                found.push((number, call.trim().to_owned()));
            }
        }
    }
    found
}

/// The unfenced paragraphs (lines up to a blank line, heading or fence)
/// joined by spaces, with the line each starts on.
fn paragraphs(lines: &[Line<'_>]) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in lines {
        let ends = line.fenced || line.text.trim().is_empty() || line.text.starts_with('#');
        if ends {
            found.extend(current.take());
            continue;
        }
        match &mut current {
            Some((_, text)) => {
                text.push(' ');
                text.push_str(line.text.trim());
            }
            None => current = Some((line.number, line.text.trim().to_owned())),
        }
    }
    found.extend(current);
    found
}

/// Shell words: split at spaces, except inside simple double or single
/// quotes, which are removed.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unclosed quote in `{line}`");
    if in_word {
        words.push(word);
    }
    words
}

/// `word` with each placeholder replaced by its sample value. A placeholder
/// counts only as a whole word (`ID` in `ACCOUNT_ID` is not one), and a
/// value put in is not read again.
fn substitute(word: &str) -> String {
    let part_of_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut at = 0;
    'scan: while at < word.len() {
        let rest = &word[at..];
        let starts_word = !word[..at].chars().next_back().is_some_and(part_of_word);
        if starts_word {
            for (placeholder, value) in PLACEHOLDERS {
                let ends_word = rest
                    .strip_prefix(placeholder)
                    .is_some_and(|after| !after.chars().next().is_some_and(part_of_word));
                if ends_word {
                    out.push_str(value);
                    at += placeholder.len();
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        at += c.len_utf8();
    }
    out
}

/// The words `crate::command_line_parses` gets for a call: the call's shell
/// words with the placeholders filled in.
fn arguments(call: &str) -> Vec<String> {
    shell_words(call)
        .iter()
        .map(|word| substitute(word))
        .collect()
}

/// `ssm:PutParameter`, `events:StartReplay`: a service prefix and an
/// action.
fn is_iam_action(span: &str) -> bool {
    span.split_once(':').is_some_and(|(service, action)| {
        !service.is_empty()
            && service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && action.starts_with(|c: char| c.is_ascii_uppercase())
            && action.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// A section of a runbook: its heading's title and its lines up to the
/// next heading of the same level or higher.
struct Section<'a> {
    title: String,
    lines: &'a [Line<'a>],
}

fn sections<'a>(lines: &'a [Line<'a>], marker: &str) -> Vec<Section<'a>> {
    let level = marker.len() - 1;
    let heading_at_most = |line: &Line<'_>| {
        let hashes = line.text.chars().take_while(|c| *c == '#').count();
        !line.fenced && hashes >= 1 && hashes <= level && line.text[hashes..].starts_with(' ')
    };
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&index| !lines[index].fenced && lines[index].text.starts_with(marker))
        .collect();
    starts
        .iter()
        .map(|&start| {
            let end = (start + 1..lines.len())
                .find(|&index| heading_at_most(&lines[index]))
                .unwrap_or(lines.len());
            Section {
                title: lines[start].text[marker.len()..].trim().to_owned(),
                lines: &lines[start + 1..end],
            }
        })
        .collect()
}

/// The text of a section's paragraph that starts with `label`, if any.
fn labelled<'a>(lines: &'a [Line<'a>], label: &str) -> Option<(usize, String)> {
    paragraphs(lines)
        .into_iter()
        .find(|(_, text)| text.starts_with(label))
        .map(|(number, text)| (number, text[label.len()..].trim().to_owned()))
}

#[test]
fn every_runbook_exists_with_its_sections_and_steps() {
    for name in all_runbooks() {
        let text = read(name);
        assert!(
            text.starts_with("# "),
            "dr-runbooks/{name}: opens with its `# ` title"
        );
    }
    for name in PROCEDURES {
        let text = read(name);
        let lines = lines(&text);
        assert!(
            text.contains("](README.md)"),
            "dr-runbooks/{name}: links back to the runbook index, README.md"
        );
        let top = sections(&lines, "## ");
        let titles: Vec<&str> = top.iter().map(|section| section.title.as_str()).collect();
        let mut at = 0;
        for wanted in SECTIONS {
            let found = titles[at..].iter().position(|title| *title == wanted);
            let found = found.unwrap_or_else(|| {
                panic!(
                    "dr-runbooks/{name}: no `## {wanted}` after `## {}`; sections: {titles:?}",
                    titles[..at].last().unwrap_or(&"(title)")
                )
            });
            at += found + 1;
        }
        let section = |wanted: &str| top.iter().find(|section| section.title == wanted).unwrap();
        for wanted in SECTIONS {
            assert!(
                section(wanted)
                    .lines
                    .iter()
                    .any(|line| !line.text.trim().is_empty()),
                "dr-runbooks/{name}: `## {wanted}` is empty"
            );
        }
        let when = section("When to use it");
        assert!(
            when.lines
                .iter()
                .any(|line| line.text.contains("Do not use it")),
            "dr-runbooks/{name}: `## When to use it` says when not to (`Do not use it`)"
        );
        let prerequisites = paragraphs(section("Prerequisites and permissions").lines);
        assert!(
            prerequisites
                .iter()
                .any(|(_, text)| { text.split('`').skip(1).step_by(2).any(is_iam_action) }),
            "dr-runbooks/{name}: `## Prerequisites and permissions` names no IAM action (`service:Action`)"
        );

        let steps = sections(section("Steps").lines, "### ");
        assert!(
            !steps.is_empty(),
            "dr-runbooks/{name}: `## Steps` has no `### 1. ...`"
        );
        for (index, step) in steps.iter().enumerate() {
            let number = index + 1;
            let heading = &step.title;
            let title = heading
                .strip_prefix(&format!("{number}. "))
                .unwrap_or_else(|| {
                    panic!("dr-runbooks/{name}: step `### {heading}` should be `### {number}. <what it does>`")
                });
            assert!(
                !title.trim().is_empty(),
                "dr-runbooks/{name}: step {number} has no title"
            );
            let blocks = blocks(step.lines);
            let block = blocks
                .first()
                .unwrap_or_else(|| panic!("dr-runbooks/{name}: step {number} has no ```sh block"));
            assert_eq!(
                block.language, "sh",
                "dr-runbooks/{name}: step {number}'s command is in a ```sh block"
            );
            let commands = shell_commands(block);
            assert_eq!(
                commands.len(),
                1,
                "dr-runbooks/{name}: step {number} is one command, not {commands:?}"
            );
            let check = labelled(step.lines, "Check:").unwrap_or_else(|| {
                panic!("dr-runbooks/{name}: step {number} has no paragraph starting `Check:`")
            });
            let roll_back = labelled(step.lines, "Roll back:").unwrap_or_else(|| {
                panic!("dr-runbooks/{name}: step {number} has no paragraph starting `Roll back:`")
            });
            for (label, (line, said)) in [("Check:", &check), ("Roll back:", &roll_back)] {
                assert!(
                    !said.is_empty(),
                    "dr-runbooks/{name}:{line}: step {number}'s `{label}` says nothing"
                );
            }
            assert!(
                block.line < check.0 && check.0 < roll_back.0,
                "dr-runbooks/{name}: step {number} gives its command, then `Check:`, then `Roll back:`"
            );
        }
    }
}

#[test]
fn the_readme_links_every_runbook() {
    let readme = read("README.md");
    for name in PROCEDURES {
        assert!(
            readme.contains(&format!("]({name})")),
            "dr-runbooks/README.md does not link {name}"
        );
    }
    let listed: Vec<String> = std::fs::read_dir(runbooks_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    for name in &listed {
        assert!(
            all_runbooks().contains(&name.as_str()),
            "dr-runbooks/{name} is no runbook this test knows: add it to PROCEDURES"
        );
    }
}

/// Every `cargo xtask` command line in a runbook, placeholders filled in,
/// is one `main` would accept: the command exists and its flags and their
/// values parse.
#[test]
fn every_runbook_command_parses() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in all_runbooks() {
        for (line, call) in xtask_lines(&read(name)) {
            let words = arguments(&call);
            checked += 1;
            if let Err(error) = crate::command_line_parses(&words) {
                failures.push(format!(
                    "dr-runbooks/{name}:{line}: `cargo xtask {call}` (as {words:?}): {error:#}"
                ));
            }
        }
    }
    assert!(
        checked > 0,
        "no `cargo xtask` command found in dr-runbooks/"
    );
    assert!(
        failures.is_empty(),
        "runbook commands that do not parse:\n{}",
        failures.join("\n")
    );
}

/// The parse check above cannot pass for want of commands: each procedure
/// has `cargo xtask` commands in its `sh` blocks, and a command line that
/// is wrong does not parse.
#[test]
fn the_runbook_checks_find_commands_and_reject_wrong_ones() {
    for name in PROCEDURES {
        let text = read(name);
        let in_blocks = blocks(&lines(&text))
            .iter()
            .filter(|block| block.language == "sh")
            .flat_map(shell_commands)
            .filter(|(_, command)| !xtask_calls(command).is_empty())
            .count();
        assert!(
            in_blocks > 0,
            "dr-runbooks/{name}: no `cargo xtask` command found in its ```sh blocks"
        );
    }
    let wrong = [
        vec!["no-such-command".to_owned()],
        vec!["status".to_owned(), "--no-such-flag".to_owned()],
    ];
    for words in wrong {
        assert!(
            crate::command_line_parses(&words).is_err(),
            "{words:?} parses, so a runbook's wrong command would too"
        );
    }
}

#[test]
fn commands_are_read_as_a_shell_would_with_placeholders_filled_in() {
    let text = "\
Roll back: run `cargo xtask failback --to REGION
--yes` later.

```sh
AWS_REGION=REGION cargo xtask undo --backup GROUP/EVENT --reason \"TEXT, ID\" \\
  --exempt-until YYYY-MM-DD   # why
```
";
    let found: Vec<(usize, Vec<String>)> = xtask_lines(text)
        .into_iter()
        .map(|(line, call)| (line, arguments(&call)))
        .collect();
    let words = |list: &[&str]| {
        list.iter()
            .map(|word| (*word).to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        found,
        [
            (
                5,
                words(&[
                    "undo",
                    "--backup",
                    "sg-0123/ev-1",
                    "--reason",
                    "incident 42, 3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY",
                    "--exempt-until",
                    "2026-12-31",
                ])
            ),
            (1, words(&["failback", "--to", "us-west-2", "--yes"])),
        ]
    );
    assert_eq!(
        substitute("moat-policies-ACCOUNT_ID-REGION"),
        "moat-policies-123456789012-us-west-2"
    );
    assert_eq!(substitute("NOT_AN_ID"), "NOT_AN_ID");
}
