import Foundation
import Tensor

/// What a denoising network predicts.
public enum DiffusionPrediction: String, Sendable, CaseIterable, Codable {
    /// The added noise ε.
    case epsilon
    /// The velocity v = √ᾱ·ε − √(1 − ᾱ)·x₀ (Salimans & Ho 2022).
    case velocity = "v_prediction"
}

/// The forward (noising) process of DDPM: β per training step and the cumulative ᾱ_t = Π(1 − β).
///
/// Values are computed in double precision; they agree with diffusers' float32 tables to float32 rounding.
public struct NoiseSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// β evenly spaced from `betaStart` to `betaEnd` (DDPM; diffusers' "linear").
        case linear
        /// √β evenly spaced, squared (latent diffusion's "linear"; diffusers' "scaled_linear").
        case scaledLinear = "scaled_linear"
        /// ᾱ(t) ∝ cos²(((t/T) + 0.008)/1.008 · π/2), β capped at 0.999 (Nichol & Dhariwal; "squaredcos_cap_v2").
        case cosine
    }

    public let kind: Kind
    public let betas: [Double]
    /// ᾱ_t for t = 0 … T − 1.
    public let alphasCumulative: [Double]

    public var trainingSteps: Int { betas.count }

    /// - Parameters: betaStart/betaEnd: used by `linear` and `scaledLinear` (latent diffusion: 0.00085, 0.012).
    public init(kind: Kind, trainingSteps: Int = 1000, betaStart: Double = 0.00085, betaEnd: Double = 0.012) {
        precondition(trainingSteps >= 2, "a schedule needs at least two steps")
        self.kind = kind
        let last = Double(trainingSteps - 1)
        switch kind {
        case .linear:
            betas = (0..<trainingSteps).map { betaStart + (betaEnd - betaStart) * Double($0) / last }
        case .scaledLinear:
            let (low, high) = (betaStart.squareRoot(), betaEnd.squareRoot())
            betas = (0..<trainingSteps).map { let root = low + (high - low) * Double($0) / last; return root * root }
        case .cosine:
            func alphaBar(_ time: Double) -> Double {
                let angle = (time + 0.008) / 1.008 * Double.pi / 2
                return cos(angle) * cos(angle)
            }
            let count = Double(trainingSteps)
            betas = (0..<trainingSteps).map { step in
                min(1 - alphaBar(Double(step + 1) / count) / alphaBar(Double(step) / count), 0.999)
            }
        }
        var product = 1.0
        alphasCumulative = betas.map { beta in product *= 1 - beta; return product }
    }

    /// The DDIM timesteps for `steps` sampling steps, latest first: every T/steps-th step from `offset`
    /// (diffusers' "leading" spacing with steps_offset 1, as latent diffusion's uniform DDIM schedule).
    public func samplingTimesteps(steps: Int, offset: Int = 1) -> [Int] {
        precondition(steps >= 1 && steps <= trainingSteps, "steps must be between 1 and \(trainingSteps)")
        let ratio = trainingSteps / steps
        return (0..<steps).reversed().map { $0 * ratio + offset }
    }

    /// x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε for a batch: `clean`, `noise` `[N, …]`, one timestep per sample.
    public func noised(_ clean: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        combine(clean, noise, timesteps: timesteps) { alpha in (alpha.squareRoot(), (1 - alpha).squareRoot()) }
    }

    /// The training target of `prediction` for the same batch: ε, or v = √ᾱ·ε − √(1 − ᾱ)·x₀.
    public func target(_ prediction: DiffusionPrediction, clean: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        switch prediction {
        case .epsilon: return noise.copied()
        case .velocity: return combine(clean, noise, timesteps: timesteps) { alpha in (-(1 - alpha).squareRoot(), alpha.squareRoot()) }
        }
    }

    /// `a(ᾱ_t)·first + b(ᾱ_t)·second` per sample (no gradient: schedules act on data, not parameters).
    func combine(_ first: Tensor, _ second: Tensor, timesteps: [Int], weights: (Double) -> (Double, Double)) -> Tensor {
        precondition(first.shape == second.shape && first.shape[0] == timesteps.count, "one timestep per sample of equal-shaped tensors")
        let output = Tensor(uninitializedShape: first.shape)
        let perSample = first.count / max(timesteps.count, 1)
        let left = first, right = second
        for (sample, timestep) in timesteps.enumerated() {
            precondition((0..<trainingSteps).contains(timestep), "timestep \(timestep) outside 0..<\(trainingSteps)")
            let (a, b) = weights(alphasCumulative[timestep])
            let (weightA, weightB) = (Float(a), Float(b))
            let base = sample * perSample
            for index in base..<(base + perSample) {
                output.pointer[index] = weightA * left.pointer[index] + weightB * right.pointer[index]
            }
        }
        return output
    }
}

/// Deterministic-to-stochastic DDIM sampling (Song et al. 2021) over a ``NoiseSchedule``.
public struct DDIMSampler: Sendable {
    public let schedule: NoiseSchedule
    public let prediction: DiffusionPrediction
    /// 0: deterministic DDIM; 1: DDPM-like ancestral noise.
    public let eta: Double
    public let timesteps: [Int]
    /// ᾱ after the last timestep: 1 (diffusers' `set_alpha_to_one`) or ᾱ_0.
    public let finalAlpha: Double
    /// Clamp x̂₀ to ±this (diffusers' `clip_sample`); nil: no clipping.
    public let clipSample: Float?

    /// - Parameters: `offset`: added to every sampling timestep (diffusers' `steps_offset`; latent diffusion's 1);
    ///   `finalAlphaIsOne`: diffusers' `set_alpha_to_one`; `clipSample`: its `clip_sample_range` when clipping.
    public init(schedule: NoiseSchedule, steps: Int, eta: Double = 0, prediction: DiffusionPrediction = .epsilon, offset: Int = 1,
                finalAlphaIsOne: Bool = false, clipSample: Float? = nil) {
        self.schedule = schedule
        self.prediction = prediction
        self.eta = eta
        timesteps = schedule.samplingTimesteps(steps: steps, offset: offset)
        finalAlpha = finalAlphaIsOne ? 1 : schedule.alphasCumulative[0]
        self.clipSample = clipSample
    }

    /// The step that follows `timestep` (the next smaller sampling timestep; negative after the last).
    public func previousTimestep(_ timestep: Int) -> Int { timestep - schedule.trainingSteps / timesteps.count }

    /// One DDIM update from x_t to x_{t_prev}.
    ///
    /// x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t (for v: x̂₀ = √ᾱ_t·x_t − √(1−ᾱ_t)·v̂, ε̂ = √ᾱ_t·v̂ + √(1−ᾱ_t)·x_t);
    /// σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev); x_prev = √ᾱ_prev·x̂₀ + √(1−ᾱ_prev−σ²)·ε̂ + σ·z.
    /// After the last timestep ᾱ_prev is ``finalAlpha``; x̂₀ is clamped when ``clipSample`` is set.
    ///
    /// - Parameters: `output` is the network's prediction for `sample` (`x_t`), same shape; `noise` is z (needed when η > 0).
    /// - Returns: x_prev and the predicted clean sample x̂₀.
    public func step(output: Tensor, timestep: Int, sample: Tensor, noise: Tensor? = nil) -> (previous: Tensor, original: Tensor) {
        precondition(output.shape == sample.shape, "prediction \(output.shape) and sample \(sample.shape) differ")
        precondition(eta == 0 || noise?.shape == sample.shape, "η > 0 needs noise of the sample's shape")
        let alpha = schedule.alphasCumulative[timestep]
        let previous = previousTimestep(timestep)
        let alphaPrevious = previous >= 0 ? schedule.alphasCumulative[previous] : finalAlpha
        let variance = (1 - alphaPrevious) / (1 - alpha) * (1 - alpha / alphaPrevious)
        let deviation = eta * variance.squareRoot()
        let direction = max(0, 1 - alphaPrevious - deviation * deviation).squareRoot()
        let (rootAlpha, rootBeta) = (alpha.squareRoot(), (1 - alpha).squareRoot())
        let x = sample, model = output, z = noise
        let original = Tensor(uninitializedShape: sample.shape), result = Tensor(uninitializedShape: sample.shape)
        for index in 0..<sample.count {
            let (xt, predicted) = (Double(x.pointer[index]), Double(model.pointer[index]))
            var clean: Double
            let epsilon: Double
            switch prediction {
            case .epsilon: (clean, epsilon) = ((xt - rootBeta * predicted) / rootAlpha, predicted)
            case .velocity: (clean, epsilon) = (rootAlpha * xt - rootBeta * predicted, rootAlpha * predicted + rootBeta * xt)
            }
            // diffusers clamps x̂₀ and keeps ε̂ (its `use_clipped_model_output` is off by default).
            if let clipSample { clean = min(max(clean, -Double(clipSample)), Double(clipSample)) }
            var next = alphaPrevious.squareRoot() * clean + direction * epsilon
            if let z, eta > 0 { next += deviation * Double(z.pointer[index]) }
            original.pointer[index] = Float(clean)
            result.pointer[index] = Float(next)
        }
        return (result, original)
    }
}
