//! What an upstream's answer means, in one vocabulary for every upstream: each adapter reads its
//! upstream's answers (HTTP statuses, error codes, messages) into a [`Cause`], and the engine acts
//! on the cause alone. The client reads the same words in a job's `error` and in every attempt:
//! `"<upstream>: <cause>[: <detail>]"`, one line, with no server paths, tracebacks or operator
//! advice (those go to the log with the job id).

named_values!(
    /// Why an upstream did not give what was asked.
    Cause {
        // No connection (refused, DNS, reset): try another channel, or again later.
        Unreachable = "unreachable",
        // No answer in time to a request that changes nothing upstream (a poll, a refused
        // connection): try again.
        TimedOut = "timed out",
        // Overloaded or rate-limited (429, 5xx, a full queue): try another channel, or later.
        Busy = "busy",
        // The channel's session, key or signature was refused: the channel's fault; it cools
        // down and the job goes to another channel.
        CredentialsRefused = "session or credentials refused",
        // The channel's account has no credits or quota left: as with credentials.
        QuotaExhausted = "quota exhausted",
        // The request itself was refused (a workflow that does not fit the server, parameters
        // the model does not take): another channel may take it; this one is not at fault.
        RefusedAsInvalid = "refused as invalid",
        // The upstream does not know the task (it restarted, or dropped it): submit it again.
        Lost = "lost the task",
        // The task ended, but its files could not be fetched (a 5xx or no answer from where
        // they are): fetched again at the next poll, never submitted again.
        ResultsUnreachable = "results unreachable",
        // The task failed for a passing reason (overload, a generation timeout): submit it again.
        Interrupted = "interrupted",
        // The generation failed.
        Failed = "generation failed",
        // The upstream's content filter refused the prompt or the result.
        Filtered = "content filtered",
        // A submission whose fate is unknown (a timeout after the request was sent, an answer
        // without a task id): it is never sent again, since the upstream may be generating (and
        // charging for) it.
        OutcomeUnknown = "outcome unknown",
    }
);

impl Cause {
    /// Worth another channel now and this one later: the channel may be back soon.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Unreachable | Self::TimedOut | Self::Busy)
    }

    /// The channel itself is refused: it cools down for every job.
    pub fn is_channel_fault(self) -> bool {
        matches!(self, Self::CredentialsRefused | Self::QuotaExhausted)
    }

    /// The task is gone upstream, and the job may be submitted again.
    pub fn resubmits(self) -> bool {
        matches!(self, Self::Lost | Self::Interrupted)
    }
}

/// An upstream's answer that did not give what was asked, read as a [`Cause`].
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError {
    /// The upstream's name (`ComfyUI`, `Jimeng`, …).
    pub upstream: String,
    pub cause: Cause,
    /// What the client may read: one line, without paths.
    pub detail: Option<String>,
    /// The upstream's own words, for the log only.
    pub said: Option<String>,
}

impl UpstreamError {
    pub fn new(upstream: &str, cause: Cause) -> Self {
        Self { upstream: upstream.to_owned(), cause, detail: None, said: None }
    }

    /// Adds what the client may read of `text`: its first line, server paths removed, at most
    /// 200 characters. The whole text goes to the log.
    pub fn detail(mut self, text: &str) -> Self {
        let shown = client_text(text);
        if shown != text.trim() {
            self.said = Some(text.to_owned());
        }
        self.detail = Some(shown).filter(|d| !d.is_empty());
        self
    }

    /// Adds the upstream's own words for the log, shown to no client (operator advice,
    /// account details).
    pub fn said(mut self, text: &str) -> Self {
        self.said = Some(text.to_owned());
        self
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.upstream, self.cause)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

impl From<UpstreamError> for crate::Error {
    fn from(error: UpstreamError) -> Self {
        Self::Upstream(error)
    }
}

/// The most of `text` a client may read: its first non-empty line, with words that look like
/// server paths replaced by `[path]`, at most 200 characters.
pub fn client_text(text: &str) -> String {
    const MAX: usize = 200;
    let line = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default();
    let words: Vec<&str> = line.split(' ').map(|word| if looks_like_path(word) { "[path]" } else { word }).collect();
    let line = words.join(" ");
    match line.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

fn looks_like_path(word: &str) -> bool {
    let word = word.trim_matches(|c: char| "\"'`()[]{},;:".contains(c) || c.is_whitespace());
    let bytes = word.as_bytes();
    let unix = word.starts_with('/') && word[1..].contains('/');
    let home = word.starts_with("~/");
    let windows =
        bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && matches!(bytes[2], b'\\' | b'/');
    unix || home || windows || word.contains("\\\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_reads_one_line_without_server_paths() {
        let error = UpstreamError::new("ComfyUI", Cause::Failed).detail(
            "[Errno 13] Permission denied: '/srv/comfy/output/gw_00001_.png' (full_output_folder: C:\\comfy\\out)\nTraceback (most recent call last):\n  File \"/srv/comfy/execution.py\"",
        );
        let text = error.to_string();
        assert_eq!(
            text,
            "ComfyUI: generation failed: [Errno 13] Permission denied: [path] (full_output_folder: [path]"
        );
        assert!(error.said.unwrap().contains("Traceback"), "the log keeps every word");
    }

    #[test]
    fn short_plain_details_are_kept_whole() {
        let error = UpstreamError::new("Jimeng", Cause::Filtered).detail("[内容违规]: 提示词包含敏感内容");
        assert_eq!(error.to_string(), "Jimeng: content filtered: [内容违规]: 提示词包含敏感内容");
        assert_eq!(error.said, None);
        let long = "x".repeat(500);
        assert_eq!(client_text(&long).chars().count(), 201);
    }

    #[test]
    fn causes_say_what_the_engine_does() {
        assert!(Cause::Unreachable.is_transient() && Cause::Busy.is_transient());
        assert!(Cause::CredentialsRefused.is_channel_fault() && Cause::QuotaExhausted.is_channel_fault());
        assert!(Cause::Lost.resubmits() && !Cause::OutcomeUnknown.resubmits());
        assert!(!Cause::RefusedAsInvalid.is_transient() && !Cause::RefusedAsInvalid.is_channel_fault());
    }
}
