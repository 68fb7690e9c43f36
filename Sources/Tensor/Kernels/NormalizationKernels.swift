import Foundation

/// Normalisation over a `[outer, groups, length]` view: each group's statistics span its `outer`
/// segments of `length` contiguous floats. Instance, group and layer norm use outer = 1;
/// batch norm uses outer = N, groups = C, length = H·W.
public enum NormalizationKernels {
    /// `output = (input − mean) / √(variance + epsilon)` per group (then max(·, 0) when `rectify`);
    /// writes the biased variance and 1/σ.
    public static func normalize(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
        inverseStandardDeviation: UnsafeMutablePointer<Float>,
        outer: Int, groups: Int, length: Int, epsilon: Float, rectify: Bool = false
    ) {
        let total = Double(outer * length)
        Parallel.forEachRange(groups, minimumPerWorker: max(1, 8192 / max(outer * length, 1))) { range in
            for group in range {
                var sum = 0.0
                for segment in 0..<outer {
                    sum += ElementwiseKernels.sum(input + (segment * groups + group) * length, count: length)
                }
                let groupMean = Float(sum / total)
                var squares = 0.0
                for segment in 0..<outer {
                    squares += ElementwiseKernels.sumOfSquaredDeviations(
                        input + (segment * groups + group) * length, count: length, center: groupMean)
                }
                let groupVariance = Float(squares / total)
                let inverse = 1 / (groupVariance + epsilon).squareRoot()
                mean[group] = groupMean
                variance[group] = groupVariance
                inverseStandardDeviation[group] = inverse
                for segment in 0..<outer {
                    let source = input + (segment * groups + group) * length
                    let destination = output + (segment * groups + group) * length
                    if rectify {
                        for index in 0..<length { destination[index] = Swift.max((source[index] - groupMean) * inverse, 0) }
                    } else {
                        for index in 0..<length { destination[index] = (source[index] - groupMean) * inverse }
                    }
                }
            }
        }
    }

    /// Input gradient of ``normalize(_:_:mean:variance:inverseStandardDeviation:outer:groups:length:epsilon:)``:
    /// `dx = (1/σ)·(g − mean(g) − y·mean(g·y))` per group, where y is the normalised output.
    public static func backward(
        gradientOutput: UnsafePointer<Float>, normalized: UnsafePointer<Float>,
        inverseStandardDeviation: UnsafePointer<Float>, gradientInput: UnsafeMutablePointer<Float>,
        outer: Int, groups: Int, length: Int
    ) {
        let total = Double(outer * length)
        Parallel.forEachRange(groups, minimumPerWorker: max(1, 8192 / max(outer * length, 1))) { range in
            for group in range {
                var gradientSum = 0.0
                var projection = 0.0
                for segment in 0..<outer {
                    let offset = (segment * groups + group) * length
                    gradientSum += ElementwiseKernels.sum(gradientOutput + offset, count: length)
                    projection += ElementwiseKernels.dot(gradientOutput + offset, normalized + offset, count: length)
                }
                let meanGradient = Float(gradientSum / total)
                let meanProjection = Float(projection / total)
                let inverse = inverseStandardDeviation[group]
                for segment in 0..<outer {
                    let offset = (segment * groups + group) * length
                    let g = gradientOutput + offset, y = normalized + offset, dx = gradientInput + offset
                    for index in 0..<length { dx[index] = inverse * (g[index] - meanGradient - y[index] * meanProjection) }
                }
            }
        }
    }
}
