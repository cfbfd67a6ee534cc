//! `warpflow history show FILE [--json]`: a history file's timeline, or its validated and
//! normalised JSON. [`render`] is shared with `warpflow workflow show`.

use std::path::Path;
use warpflow_engine::History;

/// The timeline of the history in `file`, or with `json` its normalised JSON.
pub fn show(file: &Path, json: bool) -> Result<String, String> {
    Ok(render(&load(file)?, json))
}

/// A history's timeline, or with `json` its JSON.
pub fn render(history: &History, json: bool) -> String {
    if json {
        let mut text = history.to_json_pretty();
        text.push('\n');
        text
    } else {
        history.render_timeline()
    }
}

fn load(file: &Path) -> Result<History, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    History::from_json(&text).map_err(|e| format!("{}: {e}", file.display()))
}
