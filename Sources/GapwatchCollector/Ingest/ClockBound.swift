import GapwatchProtocol

/// The times of one report judged against the collector's clock, so that no observation dated
/// after its receive time plus the tolerance can change state ("newest observed_at wins" in
/// checks, job probes, locks and counts would otherwise let one far-future time freeze a fact).
///
/// - An agent whose clock runs ahead by more than the tolerance (its `sent_at` is later than the
///   receive time plus the tolerance) has its observations moved back by its skew: an honest
///   agent with a wrong clock is stored, corrected, not lost. A clock behind is not corrected:
///   its observations can only look older, which makes checks late, never falsely up; its
///   `clock_skew` incident says why.
/// - An observation still dated later than the receive time plus the tolerance (after that
///   correction) is refused on its own: not stored, not applied, named in the response's
///   `refused` (acknowledged, so the agent does not send it again).
/// - So are a lock's `acquired_at` and a job's `last_attempt_at` / `last_success_at` later than
///   that: they say when something already happened. (They come from the lock store's or the
///   scheduler's clock; one that only fits once corrected by the agent's skew is corrected.)
struct ClockBound {
    let receivedAt: Millis
    /// Receive time minus `sent_at` (positive: the agent's clock is behind).
    let skewMs: Millis
    let toleranceMs: Millis

    init(receivedAt: Millis, sentAt: Millis, toleranceMs: Millis) {
        self.receivedAt = receivedAt
        self.skewMs = ClampedTime.subtract(receivedAt, sentAt)
        self.toleranceMs = max(0, toleranceMs)
    }

    /// The latest time an observation may carry.
    var latest: Millis { ClampedTime.add(receivedAt, toleranceMs) }

    /// Whether the agent's clock is off by more than the tolerance, either way.
    var clockOff: Bool { skewMs > toleranceMs || skewMs < -toleranceMs }

    /// What is added to the agent's times: its (negative) skew when its clock runs ahead, else 0.
    var correctionMs: Millis { skewMs < -toleranceMs ? skewMs : 0 }

    enum Verdict {
        /// Store it, with these times; `corrected`: its observed_at was moved.
        case accept(Observation, corrected: Bool)
        case refuse(RefusedObservation)
    }

    func judge(_ observation: Observation, index: Int) -> Verdict {
        var accepted = observation
        let correction = correctionMs
        if correction != 0 {
            accepted.observedAt = max(FieldLimits.earliestTime, ClampedTime.add(observation.observedAt, correction))
        }
        let path = "observations[\(index)]"
        if accepted.observedAt > latest {
            return .refuse(refusal(observation, field: "\(path).observed_at", time: observation.observedAt))
        }
        switch accepted.body {
        case .lock(var lock):
            if let t = lock.acquiredAt {
                guard let bounded = pastEvent(t) else { return .refuse(refusal(observation, field: "\(path).acquired_at", time: t)) }
                lock.acquiredAt = bounded
                accepted.body = .lock(lock)
            }
        case .job(var job):
            if let t = job.lastAttemptAt {
                guard let bounded = pastEvent(t) else { return .refuse(refusal(observation, field: "\(path).last_attempt_at", time: t)) }
                job.lastAttemptAt = bounded
            }
            if let t = job.lastSuccessAt {
                guard let bounded = pastEvent(t) else { return .refuse(refusal(observation, field: "\(path).last_success_at", time: t)) }
                job.lastSuccessAt = bounded
            }
            accepted.body = .job(job)
        default: break
        }
        return .accept(accepted, corrected: correction != 0)
    }

    /// A time of something that already happened: as given when not after `latest`, else
    /// corrected by the agent's skew when that brings it in; nil when nothing does.
    private func pastEvent(_ t: Millis) -> Millis? {
        if t <= latest { return t }
        let corrected = ClampedTime.add(t, correctionMs)
        return correctionMs != 0 && corrected <= latest ? max(FieldLimits.earliestTime, corrected) : nil
    }

    private func refusal(_ observation: Observation, field: String, time: Millis) -> RefusedObservation {
        let ahead = ClampedTime.subtract(time, receivedAt)
        var reason = "dated \(TimeParsing.format(time)), \(Units.formatAge(ahead)) after the collector received it"
        reason += " (tolerance \(Units.formatDuration(toleranceMs)))"
        if correctionMs != 0 { reason += ", even after moving it back by the agent's clock skew of \(Units.formatAge(-correctionMs))" }
        return RefusedObservation(seq: observation.seq, field: field, reason: reason + ": not stored")
    }
}
