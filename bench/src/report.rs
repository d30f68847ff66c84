//! The figures of one run, each with its budget and whether it holds, written as
//! `bench/REPORT.md` (for people) and `bench/report.json` (the same figures, for tools).

use serde::{Deserialize, Serialize};

/// Which way a figure must go to hold its budget.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtMost,
    AtLeast,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The section it belongs to, e.g. `cold start`.
    pub section: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// The budget, if the figure has one.
    pub budget: Option<(Bound, f64)>,
    /// How it was measured, in a few words (runs, percentile).
    pub how: String,
}

impl Figure {
    pub fn passes(&self) -> Option<bool> {
        self.budget.map(|(bound, limit)| match bound {
            Bound::AtMost => self.value <= limit,
            Bound::AtLeast => self.value >= limit,
        })
    }
}

/// Figures without budgets that explain others, as a table: a row per subject, a column per
/// part (e.g. each function's init, phase by phase).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub title: String,
    /// What the table shows and how it was measured.
    pub how: String,
    pub unit: String,
    pub columns: Vec<String>,
    /// Each row's subject and its value in each column (`None`: the part does not occur).
    pub rows: Vec<(String, Vec<Option<f64>>)>,
}

/// Everything one run measured, and on what.
#[derive(Debug, Serialize)]
pub struct Report {
    pub measured_at: String,
    pub machine: String,
    pub figures: Vec<Figure>,
    pub tables: Vec<Table>,
    /// What a reader needs to know to read the figures.
    pub notes: Vec<String>,
}

#[derive(Serialize)]
struct FigureJson<'a> {
    #[serde(flatten)]
    figure: &'a Figure,
    passes: Option<bool>,
}

impl Report {
    pub fn misses(&self) -> usize {
        self.figures.iter().filter(|figure| figure.passes() == Some(false)).count()
    }

    pub fn to_json(&self) -> serde_json::Value {
        let figures: Vec<FigureJson> =
            self.figures.iter().map(|figure| FigureJson { figure, passes: figure.passes() }).collect();
        serde_json::json!({
            "measured_at": self.measured_at, "machine": self.machine, "figures": figures,
            "tables": self.tables, "misses": self.misses(), "notes": self.notes,
        })
    }

    pub fn to_markdown(&self) -> String {
        let mut text = format!(
            "# genrelay benchmark report\n\nMeasured {} on {} by `bench/run.sh` (the release build). \
             {} figure(s) miss their budget.\n",
            self.measured_at,
            self.machine,
            self.misses()
        );
        let mut sections: Vec<&str> = self.figures.iter().map(|figure| figure.section).collect();
        sections.dedup();
        for section in sections {
            text.push_str(&format!(
                "\n## {section}\n\n| figure | value | budget | holds | how |\n|---|---:|---|---|---|\n"
            ));
            for figure in self.figures.iter().filter(|figure| figure.section == section) {
                let budget = match figure.budget {
                    Some((Bound::AtMost, limit)) => format!("≤ {} {}", number(limit), figure.unit),
                    Some((Bound::AtLeast, limit)) => format!("≥ {} {}", number(limit), figure.unit),
                    None => "—".to_owned(),
                };
                let holds = match figure.passes() {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "—",
                };
                text.push_str(&format!(
                    "| {} | {} {} | {budget} | {holds} | {} |\n",
                    figure.name,
                    number(figure.value),
                    figure.unit,
                    figure.how
                ));
            }
        }
        for table in &self.tables {
            text.push_str(&format!("\n## {}\n\n{}\n\n| |", table.title, table.how));
            for column in &table.columns {
                text.push_str(&format!(" {column} |"));
            }
            text.push_str(&format!("\n|---|{}\n", "---:|".repeat(table.columns.len())));
            for (subject, values) in &table.rows {
                text.push_str(&format!("| {subject} |"));
                for value in values {
                    match value {
                        Some(value) => text.push_str(&format!(" {} |", number(*value))),
                        None => text.push_str(" — |"),
                    }
                }
                text.push('\n');
            }
        }
        if !self.notes.is_empty() {
            text.push_str("\n## Notes\n\n");
            for note in &self.notes {
                text.push_str(&format!("- {note}\n"));
            }
        }
        text
    }
}

/// A figure as people read it: at most one decimal.
fn number(value: f64) -> String {
    if value.fract() == 0.0 || value >= 100.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

/// The median and 90th percentile of `samples` (milliseconds).
pub fn median_and_p90(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}
