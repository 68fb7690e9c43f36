import Foundation

/// A seedable pseudo-random generator (xoshiro256**), the single source of randomness in the engine.
///
/// Its full state can be saved and restored, which exact training resume needs. A generator is not synchronised: one
/// thread uses it at a time (each data-loader sample gets its own, seeded from its position).
public final class RandomGenerator: @unchecked Sendable {
    /// This thread's default generator (each thread has its own), seeded with 0 until ``seed(_:)`` is called.
    public static var shared: RandomGenerator { perThread.value }
    private static let perThread = ThreadLocal { RandomGenerator(seed: 0) }

    /// The four 64-bit words of state.
    public var state: [UInt64]

    /// Creates a generator from a seed (expanded with SplitMix64).
    public init(seed: UInt64) {
        state = [0, 0, 0, 0]
        reseed(seed)
    }

    /// Resets the state from `seed`.
    public func reseed(_ seed: UInt64) {
        var mix = seed
        for index in 0..<4 {
            mix &+= 0x9E37_79B9_7F4A_7C15
            var value = mix
            value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
            value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
            state[index] = value ^ (value >> 31)
        }
    }

    /// Seeds this thread's default generator.
    public static func seed(_ seed: UInt64) { shared.reseed(seed) }

    @inline(__always)
    private static func rotateLeft(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }

    /// The next 64 random bits.
    @inline(__always)
    public func next() -> UInt64 {
        let result = RandomGenerator.rotateLeft(state[1] &* 5, 7) &* 9
        let shifted = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= shifted
        state[3] = RandomGenerator.rotateLeft(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in `0..<upperBound`.
    public func nextInt(below upperBound: Int) -> Int {
        precondition(upperBound > 0)
        return Int(nextDouble() * Double(upperBound)) % upperBound
    }

    /// A random permutation of 0..<count (Fisher–Yates).
    public func permutation(_ count: Int) -> [Int] {
        var values = Array(0..<count)
        if count > 1 {
            for index in stride(from: count - 1, to: 0, by: -1) { values.swapAt(index, nextInt(below: index + 1)) }
        }
        return values
    }

    /// Fills `count` floats with N(mean, std²) samples (Box–Muller).
    public func fillNormal(_ destination: UnsafeMutablePointer<Float>, count: Int, mean: Float, standardDeviation: Float) {
        var index = 0
        while index < count {
            let first = max(nextDouble(), 1e-300)
            let second = nextDouble()
            let radius = (-2 * Foundation.log(first)).squareRoot()
            let angle = 2 * Double.pi * second
            destination[index] = mean + standardDeviation * Float(radius * Foundation.cos(angle))
            if index + 1 < count {
                destination[index + 1] = mean + standardDeviation * Float(radius * Foundation.sin(angle))
            }
            index += 2
        }
    }

    /// Fills `count` floats with U[low, high) samples.
    public func fillUniform(_ destination: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
        let width = Double(high - low)
        for index in 0..<count { destination[index] = low + Float(nextDouble() * width) }
    }
}
