import Foundation

extension Tensor {
    /// Softmax along `axis` (torch.softmax), computed stably by subtracting the row maximum.
    public func softmax(axis: Int = -1) -> Tensor {
        let axis = normalizedAxis(axis)
        if axis != rank - 1 {
            return transposed(axis, rank - 1).softmax(axis: -1).transposed(axis, rank - 1)
        }
        let length = shape[rank - 1], rows = count / Swift.max(length, 1)
        let output = Tensor(uninitializedShape: shape)
        Parallel.forEachRange(rows, minimumPerWorker: Swift.max(1, 4096 / Swift.max(length, 1))) { range in
            for row in range {
                let source = pointer + row * length, destination = output.pointer + row * length
                var maximum = -Float.infinity
                for index in 0..<length { maximum = Swift.max(maximum, source[index]) }
                var total: Float = 0
                for index in 0..<length {
                    let value = Foundation.exp(source[index] - maximum)
                    destination[index] = value
                    total += value
                }
                let scale = 1 / total
                for index in 0..<length { destination[index] *= scale }
            }
        }
        let savedOutput = output.detached()   // not `output`: that would be a retain cycle through its node
        return Tensor.record(output, "softmax", inputs: [self]) { gradient in
            let result = Tensor(uninitializedShape: gradient.shape)
            Parallel.forEachRange(rows, minimumPerWorker: Swift.max(1, 4096 / Swift.max(length, 1))) { range in
                for row in range {
                    let y = savedOutput.pointer + row * length, g = gradient.pointer + row * length
                    let dx = result.pointer + row * length
                    let projection = Float(ElementwiseKernels.dot(y, g, count: length))
                    for index in 0..<length { dx[index] = y[index] * (g[index] - projection) }
                }
            }
            return [result]
        }
    }

    /// Scaled dot-product attention, softmax(Q·Kᵀ·scale + mask)·V (torch.nn.functional.scaled_dot_product_attention).
    ///
    /// - Parameters:
    ///   - query: `[…, L, D]`; key: `[…, S, D]`; value: `[…, S, Dv]`.
    ///   - mask: additive mask broadcastable to `[…, L, S]` (use −∞ to block), or nil.
    ///   - scale: defaults to 1/√D.
    /// - Returns: `[…, L, Dv]`.
    public static func scaledDotProductAttention(
        query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil, scale: Float? = nil
    ) -> Tensor {
        let depth = query.shape[query.rank - 1]
        var scores = query.matmul(key, transposeOther: true) * (scale ?? 1 / Float(depth).squareRoot())
        if let mask { scores = scores + mask }
        return scores.softmax(axis: -1).matmul(value)
    }

    /// Inverted dropout: zeroes each element with probability `probability` and scales the rest by
    /// 1/(1 − p) during training; the identity otherwise. Masks come from `generator`.
    public func dropout(probability: Float, training: Bool, generator: RandomGenerator = .shared) -> Tensor {
        guard training && probability > 0 else { return self }
        precondition(probability < 1, "dropout probability must be below 1")
        let mask = Tensor(uninitializedShape: shape)
        let keep = 1 / (1 - probability)
        for index in 0..<count { mask.pointer[index] = generator.nextDouble() < Double(probability) ? 0 : keep }
        return self * mask
    }
}

// MARK: - Losses

extension Tensor {
    /// Mean absolute error (torch.nn.L1Loss, reduction "mean").
    public static func l1Loss(_ prediction: Tensor, _ target: Tensor) -> Tensor { (prediction - target).abs().mean() }

    /// Mean squared error (torch.nn.MSELoss, reduction "mean").
    public static func mseLoss(_ prediction: Tensor, _ target: Tensor) -> Tensor { (prediction - target).pow(2).mean() }

    /// Binary cross-entropy on logits (torch.nn.BCEWithLogitsLoss, reduction "mean"), computed stably as
    /// `Swift.max(x, 0) − x·y + log(1 + e^(−|x|))`. The target receives no gradient.
    public static func binaryCrossEntropyWithLogits(_ logits: Tensor, _ target: Tensor) -> Tensor {
        let target = target.shape == logits.shape ? target : target.detached().expanded(to: logits.shape)
        let count = logits.count
        var total = 0.0
        for index in 0..<count {
            let x = logits.pointer[index], y = target.pointer[index]
            total += Double(Swift.max(x, 0) - x * y + Foundation.log1p(Foundation.exp(-Swift.abs(x))))
        }
        let output = Tensor(Float(total / Double(count)))
        return record(output, "bce_with_logits", inputs: [logits]) { gradient in
            let scale = gradient.item / Float(count)
            let result = Tensor(uninitializedShape: logits.shape)
            ElementwiseKernels.map(logits.pointer, target.pointer, result.pointer, count: count) { x, y in
                (Tensor.logistic(x) - y) * scale
            }
            return [result]
        }
    }

    /// Weighted cross-entropy between logits `[N, Q, …]` (classes on axis 1) and target distributions of the same
    /// shape, each position weighted by `weights` `[N, 1, …]`: mean over positions of w·(logsumexp(x) − Σ_q t_q·x_q)
    /// (torch.nn.functional.cross_entropy with probability targets and reduction "none", times the weights, averaged).
    /// Only the logits receive a gradient: w·(softmax(x) − t) / positions.
    public static func softCrossEntropy(_ logits: Tensor, targets: Tensor, weights: Tensor) -> Tensor {
        precondition(logits.rank >= 2 && targets.shape == logits.shape, "logits \(logits.shape) and targets \(targets.shape) differ")
        let (batch, classes) = (logits.shape[0], logits.shape[1]), plane = logits.count / (batch * classes)
        precondition(weights.count == batch * plane, "one weight per position: \(weights.shape)")
        let softmax = Tensor(uninitializedShape: logits.shape)
        var total = 0.0
        // Class-major loops over contiguous planes (the classes of one position are `plane` apart).
        var largest = [Float](repeating: 0, count: plane), sums = [Float](repeating: 0, count: plane), dots = [Float](repeating: 0, count: plane)
        for sample in 0..<batch {
            let x = logits.pointer + sample * classes * plane, t = targets.pointer + sample * classes * plane
            let y = softmax.pointer + sample * classes * plane
            for position in 0..<plane { largest[position] = x[position] }
            for q in 1..<classes {
                let row = x + q * plane
                for position in 0..<plane { largest[position] = Swift.max(largest[position], row[position]) }
            }
            for position in 0..<plane { sums[position] = 0; dots[position] = 0 }
            for q in 0..<classes {
                let row = x + q * plane, target = t + q * plane, out = y + q * plane
                for position in 0..<plane {
                    let e = Foundation.exp(row[position] - largest[position])
                    out[position] = e
                    sums[position] += e
                    dots[position] += target[position] * row[position]
                }
            }
            for position in 0..<plane {
                total += Double(weights.pointer[sample * plane + position] * (largest[position] + Foundation.log(sums[position]) - dots[position]))
                sums[position] = 1 / sums[position]
            }
            for q in 0..<classes {
                let out = y + q * plane
                for position in 0..<plane { out[position] *= sums[position] }
            }
        }
        let positions = Float(batch * plane)
        let output = Tensor(Float(total / Double(positions)))
        let savedTargets = targets.detached(), savedWeights = weights.detached()
        return record(output, "soft_cross_entropy", inputs: [logits]) { gradient in
            let scale = gradient.item / positions
            let result = Tensor(uninitializedShape: softmax.shape)
            for sample in 0..<batch {
                let w = savedWeights.pointer + sample * plane
                for q in 0..<classes {
                    let base = (sample * classes + q) * plane
                    let out = result.pointer + base, y = softmax.pointer + base, t = savedTargets.pointer + base
                    for position in 0..<plane { out[position] = w[position] * scale * (y[position] - t[position]) }
                }
            }
            return [result]
        }
    }
}
