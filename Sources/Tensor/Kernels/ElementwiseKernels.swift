import Foundation

/// Raw element-wise loops over contiguous float buffers. No autograd, no shapes beyond what they need.
public enum ElementwiseKernels {
    // Cheap functions run on the calling thread: the closure then inlines and the loop vectorises, which
    // beats two threads making an indirect call per element (a closure captured by another closure that
    // goes through Dispatch cannot be specialised). They are memory-bound anyway.

    /// `output[i] = function(input[i])` on the calling thread (vectorisable; for cheap functions).
    @inline(__always)
    public static func map(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int,
        _ function: (Float) -> Float
    ) {
        for index in 0..<count { output[index] = function(input[index]) }
    }

    /// `output[i] = function(input[i])` split over the workers; for transcendental functions whose cost
    /// dwarfs the indirect call.
    @inline(__always)
    public static func mapInParallel(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int,
        _ function: (Float) -> Float
    ) {
        Parallel.forEachRange(count, minimumPerWorker: 1 << 13) { range in
            for index in range { output[index] = function(input[index]) }
        }
    }

    /// `output[i] = function(first[i], second[i])` on the calling thread.
    @inline(__always)
    public static func map(
        _ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        count: Int, _ function: (Float, Float) -> Float
    ) {
        for index in 0..<count { output[index] = function(first[index], second[index]) }
    }

    /// `output[i] = function(first[i], second[i], third[i])` split over the workers.
    @inline(__always)
    public static func map(
        _ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>, _ third: UnsafePointer<Float>,
        _ output: UnsafeMutablePointer<Float>, count: Int, _ function: (Float, Float, Float) -> Float
    ) {
        Parallel.forEachRange(count, minimumPerWorker: 1 << 13) { range in
            for index in range { output[index] = function(first[index], second[index], third[index]) }
        }
    }

    /// Broadcasting binary loop. `firstStrides`/`secondStrides` are element strides per output dimension,
    /// 0 where that operand is broadcast. The innermost dimension is specialised for unit/zero strides.
    @inline(__always)
    public static func broadcastMap(
        _ first: UnsafePointer<Float>, firstStrides: [Int],
        _ second: UnsafePointer<Float>, secondStrides: [Int],
        _ output: UnsafeMutablePointer<Float>, shape: [Int], _ function: (Float, Float) -> Float
    ) {
        let rank = shape.count
        let inner = rank == 0 ? 1 : shape[rank - 1]
        let rows = inner == 0 ? 0 : Tensor.elementCount(shape) / inner
        let firstInner = rank == 0 ? 0 : firstStrides[rank - 1]
        let secondInner = rank == 0 ? 0 : secondStrides[rank - 1]
        for row in 0..<rows {
            var remainder = row
            var firstOffset = 0
            var secondOffset = 0
            var axis = rank - 2
            while axis >= 0 {
                let coordinate = remainder % shape[axis]
                remainder /= shape[axis]
                firstOffset += coordinate * firstStrides[axis]
                secondOffset += coordinate * secondStrides[axis]
                axis -= 1
            }
            let out = output + row * inner
            let a = first + firstOffset
            let b = second + secondOffset
            switch (firstInner, secondInner) {
            case (1, 1): for index in 0..<inner { out[index] = function(a[index], b[index]) }
            case (1, 0):
                let value = b[0]
                for index in 0..<inner { out[index] = function(a[index], value) }
            case (0, 1):
                let value = a[0]
                for index in 0..<inner { out[index] = function(value, b[index]) }
            default:
                for index in 0..<inner {
                    out[index] = function(a[index * firstInner], b[index * secondInner])
                }
            }
        }
    }

    /// Sum of `count` floats with eight-lane partial sums flushed to double every 1024 elements.
    @inline(__always)
    public static func sum(_ pointer: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var start = 0
        let raw = UnsafeRawPointer(pointer)
        while start < count {
            let end = min(start + 1024, count)
            var lanes0 = SIMD8<Float>()
            var lanes1 = SIMD8<Float>()
            var index = start
            while index + 16 <= end {
                lanes0 += raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
                lanes1 += raw.loadUnaligned(fromByteOffset: (index + 8) * 4, as: SIMD8<Float>.self)
                index += 16
            }
            var partial = Double((lanes0 + lanes1).sum())
            while index < end { partial += Double(pointer[index]); index += 1 }
            total += partial
            start = end
        }
        return total
    }

    /// Sum of `(x - center)²` over `count` floats, with the same blocking as ``sum(_:count:)``.
    @inline(__always)
    public static func sumOfSquaredDeviations(_ pointer: UnsafePointer<Float>, count: Int, center: Float) -> Double {
        var total = 0.0
        var start = 0
        let raw = UnsafeRawPointer(pointer)
        let centerLanes = SIMD8<Float>(repeating: center)
        while start < count {
            let end = min(start + 1024, count)
            var lanes0 = SIMD8<Float>()
            var lanes1 = SIMD8<Float>()
            var index = start
            while index + 16 <= end {
                let d0 = raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self) - centerLanes
                let d1 = raw.loadUnaligned(fromByteOffset: (index + 8) * 4, as: SIMD8<Float>.self) - centerLanes
                lanes0 += d0 * d0
                lanes1 += d1 * d1
                index += 16
            }
            var partial = Double((lanes0 + lanes1).sum())
            while index < end { let d = pointer[index] - center; partial += Double(d * d); index += 1 }
            total += partial
            start = end
        }
        return total
    }

    /// Dot product of two float runs, accumulated like ``sum(_:count:)``.
    @inline(__always)
    public static func dot(_ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var start = 0
        let a = UnsafeRawPointer(first)
        let b = UnsafeRawPointer(second)
        while start < count {
            let end = min(start + 1024, count)
            var lanes0 = SIMD8<Float>()
            var lanes1 = SIMD8<Float>()
            var index = start
            while index + 16 <= end {
                lanes0 += a.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
                    * b.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
                lanes1 += a.loadUnaligned(fromByteOffset: (index + 8) * 4, as: SIMD8<Float>.self)
                    * b.loadUnaligned(fromByteOffset: (index + 8) * 4, as: SIMD8<Float>.self)
                index += 16
            }
            var partial = Double((lanes0 + lanes1).sum())
            while index < end { partial += Double(first[index] * second[index]); index += 1 }
            total += partial
            start = end
        }
        return total
    }
}
