import Foundation
import SafeFiles
import Tensor

/// Reads PyTorch `.pth` state dicts without Python, in both formats `torch.save` has written:
/// the zip archive (torch ≥ 1.6: `<name>/data.pkl` plus one stored file per storage) and the legacy
/// stream (magic number, protocol and system-info pickles, the state-dict pickle, the storage keys,
/// then per storage an int64 element count and its raw little-endian bytes).
///
/// Only the pickle subset state dicts use is interpreted (see `RestrictedUnpickler`); anything else is
/// refused with ``CheckpointError/refused(path:reason:)``.
public enum TorchCheckpoint {
    /// Tensors of the state dict in file order, converted to float32.
    public static func read(contentsOf url: URL) throws -> [(name: String, tensor: Tensor)] {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw CheckpointError.unreadable(path: url.path, reason: FileProblem.sentence(for: error))
        }
        return try decode([UInt8](data), path: url.path)
    }

    /// Parses `.pth` bytes; `path` names the source in errors.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> [(name: String, tensor: Tensor)] {
        do {
            if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return try decodeZip(bytes, path: path) }
            if bytes.first == 0x80 { return try decodeLegacy(bytes, path: path) }
            throw CheckpointError.malformed(path: path, reason: "neither a zip archive nor a pickle stream")
        } catch let failure as RestrictedUnpickler.Failure {
            switch failure {
            case .malformed(let reason): throw CheckpointError.malformed(path: path, reason: reason)
            case .refused(let reason): throw CheckpointError.refused(path: path, reason: reason)
            }
        }
    }

    // MARK: - Zip archive

    struct ZipEntry { let dataOffset: Int; let size: Int }

    /// The stored (uncompressed) entries of a zip archive, by name, via the central directory.
    static func zipEntries(_ bytes: [UInt8], path: String) throws -> [String: ZipEntry] {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        let searchStart = Swift.max(0, bytes.count - 22 - 65535)
        guard bytes.count >= 22, let end = stride(from: bytes.count - 22, through: searchStart, by: -1).first(where: {
            bytes[$0] == 0x50 && bytes[$0 + 1] == 0x4B && bytes[$0 + 2] == 0x05 && bytes[$0 + 3] == 0x06
        }) else { throw CheckpointError.malformed(path: path, reason: "zip archive without an end-of-directory record") }
        let count = u16(end + 10)
        var offset = u32(end + 16)
        guard offset != 0xFFFF_FFFF && count != 0xFFFF else {
            throw CheckpointError.malformed(path: path, reason: "zip64 archives (checkpoints over 4 GB) are not supported")
        }
        var entries: [String: ZipEntry] = [:]
        for _ in 0..<count {
            guard offset + 46 <= bytes.count, u32(offset) == 0x0201_4B50 else {
                throw CheckpointError.malformed(path: path, reason: "damaged zip central directory")
            }
            let method = u16(offset + 10), size = u32(offset + 20)
            let nameLength = u16(offset + 28), extraLength = u16(offset + 30), commentLength = u16(offset + 32)
            let local = u32(offset + 42)
            guard offset + 46 + nameLength <= bytes.count, local + 30 <= bytes.count, u32(local) == 0x0403_4B50 else {
                throw CheckpointError.malformed(path: path, reason: "damaged zip entry")
            }
            let name = String(decoding: bytes[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self)
            let dataOffset = local + 30 + u16(local + 26) + u16(local + 28)
            guard method == 0 else {
                throw CheckpointError.malformed(path: path, reason: "zip entry \(name) is compressed; torch.save stores entries uncompressed")
            }
            guard dataOffset + size <= bytes.count else { throw CheckpointError.malformed(path: path, reason: "zip entry \(name) is truncated") }
            entries[name] = ZipEntry(dataOffset: dataOffset, size: size)
            offset += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    static func decodeZip(_ bytes: [UInt8], path: String) throws -> [(name: String, tensor: Tensor)] {
        let entries = try zipEntries(bytes, path: path)
        guard let pickleName = entries.keys.filter({ $0.hasSuffix("/data.pkl") || $0 == "data.pkl" }).min(by: { $0.count < $1.count }),
              let pickle = entries[pickleName] else {
            throw CheckpointError.malformed(path: path, reason: "zip archive without data.pkl")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        var unpickler = RestrictedUnpickler(bytes: Array(bytes[pickle.dataOffset..<(pickle.dataOffset + pickle.size)]))
        let root = try unpickler.load()
        return try materialize(root, path: path) { key in
            guard let entry = entries[prefix + "data/" + key] else {
                throw CheckpointError.malformed(path: path, reason: "storage \(key) is missing from the archive")
            }
            return bytes[entry.dataOffset..<(entry.dataOffset + entry.size)]
        }
    }

    // MARK: - Legacy stream

    static func decodeLegacy(_ bytes: [UInt8], path: String) throws -> [(name: String, tensor: Tensor)] {
        var unpickler = RestrictedUnpickler(bytes: bytes)
        _ = try unpickler.load()                                  // magic number
        guard case .int(1001) = try unpickler.load() else {      // protocol version
            throw CheckpointError.malformed(path: path, reason: "not a torch.save file (unknown protocol version)")
        }
        _ = try unpickler.load()                                  // system info
        let root = try unpickler.load()
        guard case .list(let keys) = try unpickler.load() else {
            throw CheckpointError.malformed(path: path, reason: "missing storage key list")
        }
        var position = unpickler.position
        var storages: [String: ArraySlice<UInt8>] = [:]
        var widths: [String: Int] = [:]
        collectStorageWidths(root, into: &widths)
        for key in keys {
            guard case .string(let name) = key else { throw CheckpointError.malformed(path: path, reason: "non-string storage key") }
            guard position + 8 <= bytes.count else { throw CheckpointError.malformed(path: path, reason: "truncated before storage \(name)") }
            let count = bytes[position..<(position + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
            let width = widths[name] ?? 4
            position += 8
            guard count >= 0, count <= (bytes.count - position) / Swift.max(width, 1) else {
                throw CheckpointError.malformed(path: path, reason: "storage \(name) is truncated")
            }
            storages[name] = bytes[position..<(position + count * width)]
            position += count * width
        }
        return try materialize(root, path: path) { key in
            guard let storage = storages[key] else { throw CheckpointError.malformed(path: path, reason: "storage \(key) is missing") }
            return storage
        }
    }

    static func collectStorageWidths(_ value: PickleValue, into widths: inout [String: Int]) {
        switch value {
        case .tensor(let key, let dataType, _, _, _, _): widths[key] = elementWidth(dataType) ?? 4
        case .dictionary(let pairs): for (_, item) in pairs { collectStorageWidths(item, into: &widths) }
        case .list(let items), .tuple(let items): for item in items { collectStorageWidths(item, into: &widths) }
        default: break
        }
    }

    // MARK: - Tensors

    static func elementWidth(_ storageType: String) -> Int? {
        switch storageType {
        case "FloatStorage", "IntStorage": return 4
        case "DoubleStorage", "LongStorage": return 8
        case "HalfStorage", "BFloat16Storage", "ShortStorage": return 2
        case "ByteStorage", "CharStorage", "BoolStorage": return 1
        default: return nil
        }
    }

    static func element(_ bytes: UnsafeRawBufferPointer, _ index: Int, _ storageType: String) -> Float {
        switch storageType {
        case "FloatStorage": return Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
        case "DoubleStorage": return Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))))
        case "HalfStorage": return Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))))
        case "BFloat16Storage": return Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))) << 16)
        case "LongStorage": return Float(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: Int64.self)))
        case "IntStorage": return Float(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: Int32.self)))
        case "ShortStorage": return Float(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: Int16.self)))
        case "CharStorage": return Float(bytes.load(fromByteOffset: index, as: Int8.self))
        default: return Float(bytes.load(fromByteOffset: index, as: UInt8.self))
        }
    }

    /// The name → tensor pairs of the root dictionary (or of its "state_dict" entry).
    static func materialize(_ root: PickleValue, path: String,
                            storage: (String) throws -> ArraySlice<UInt8>) throws -> [(name: String, tensor: Tensor)] {
        guard case .dictionary(var pairs) = root else {
            throw CheckpointError.malformed(path: path, reason: "the checkpoint is not a dictionary of tensors")
        }
        if let nested = pairs.first(where: { if case .string("state_dict") = $0.0 { return true }; return false }),
           case .dictionary(let inner) = nested.1 {
            pairs = inner
        }
        var result: [(name: String, tensor: Tensor)] = []
        for (key, value) in pairs {
            guard case .string(let name) = key else { continue }
            guard case .tensor(let storageKey, let dataType, _, let offset, let shape, let strides) = value else { continue }
            guard let width = elementWidth(dataType) else {
                throw CheckpointError.unsupportedDataType(path: path, key: name, dataType: dataType)
            }
            guard shape.count == strides.count, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), offset >= 0 else {
                throw CheckpointError.malformed(path: path, reason: "tensor \(name) has an invalid layout")
            }
            let bytes = try storage(storageKey)
            let count = shape.reduce(1, *)
            let lastIndex = count == 0 ? offset : offset + zip(shape, strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
            guard (lastIndex + 1) * width <= bytes.count || count == 0 else {
                throw CheckpointError.malformed(path: path, reason: "tensor \(name) reaches past its storage")
            }
            let tensor = Tensor(uninitializedShape: shape)
            bytes.withUnsafeBytes { raw in
                var coordinates = [Int](repeating: 0, count: shape.count)
                for index in 0..<count {
                    var source = offset
                    for axis in 0..<shape.count { source += coordinates[axis] * strides[axis] }
                    tensor.pointer[index] = element(raw, source, dataType)
                    var axis = shape.count - 1
                    while axis >= 0 {
                        coordinates[axis] += 1
                        if coordinates[axis] < shape[axis] { break }
                        coordinates[axis] = 0
                        axis -= 1
                    }
                }
            }
            result.append((name, tensor))
        }
        return result
    }
}

extension Module {
    /// Loads a PyTorch state dict, as the reference loads official checkpoints: an optional `module.`
    /// (DataParallel) prefix is stripped, and `running_mean`/`running_var`/`num_batches_tracked` entries
    /// that this module does not have (old InstanceNorm checkpoints carry them) are ignored. Everything
    /// else must match exactly.
    public func load(torchStateDictionary entries: [(name: String, tensor: Tensor)]) throws {
        let own = Set(stateDictionary().map(\.name))
        var dictionary: [String: Tensor] = [:]
        for (rawName, tensor) in entries {
            let name = rawName.hasPrefix("module.") ? String(rawName.dropFirst("module.".count)) : rawName
            if !own.contains(name), ["running_mean", "running_var", "num_batches_tracked"].contains(where: { name.hasSuffix("." + $0) }) {
                continue
            }
            dictionary[name] = tensor
        }
        let missingBuffers = own.filter { dictionary[$0] == nil && $0.hasSuffix(".num_batches_tracked") }
        for name in missingBuffers { dictionary[name] = Tensor.zeros([]) }
        try load(stateDictionary: dictionary, strict: true)
    }
}
