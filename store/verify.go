package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt maps the whole file and trusts its meta page: a file truncated
// below the meta page's high-water mark makes bbolt touch unmapped memory,
// a SIGBUS that no recover can catch. So before bbolt sees a file, checkFile
// reads the two meta pages itself and checks that the file is long enough
// for the newer valid one.
//
// Layout (bbolt's on-disk format, little-endian on every target liqbox
// ships for): a 16-byte page header, then magic, version, page size and
// flags (uint32 each), root bucket (pgid, sequence), freelist pgid, high
// water mark pgid, txid, and an FNV-64a checksum of the preceding 56 bytes.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltPageHdr     = 16
	boltMetaSumLen  = 56
	boltNoFreelist  = ^uint64(0)
	minBoltFileSize = 2 * 1024
)

type boltMeta struct {
	pageSize            uint32
	root, freelist, hwm uint64
	txid                uint64
}

func parseMeta(b []byte) (boltMeta, bool) {
	if len(b) < boltPageHdr+boltMetaSumLen+8 {
		return boltMeta{}, false
	}
	m := b[boltPageHdr:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSumLen])
	if h.Sum64() != le.Uint64(m[boltMetaSumLen:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: le.Uint32(m[8:]),
		root:     le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]),
		hwm:      le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}, true
}

// checkFile returns an ErrCorrupt error when path exists, is not empty,
// and cannot be a sound bbolt file.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports missing files and permissions itself
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	size := fi.Size()
	if size < minBoltFileSize {
		return fmt.Errorf("%w (file is only %d bytes)%s", ErrCorrupt, size, recoveryHint)
	}
	head := make([]byte, boltPageHdr+boltMetaSumLen+8)
	if _, err := f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	m0, ok0 := parseMeta(head)
	pageSizes := []int64{4096, int64(os.Getpagesize())}
	if ok0 {
		pageSizes = []int64{int64(m0.pageSize)}
	}
	best, found := m0, ok0
	for _, ps := range pageSizes {
		if _, err := f.ReadAt(head, ps); err != nil && err != io.EOF {
			continue
		}
		if m1, ok := parseMeta(head); ok && (!found || m1.txid > best.txid) {
			best, found = m1, true
		}
	}
	if !found {
		return fmt.Errorf("%w (no valid meta page: not a bbolt file, or its header was overwritten)%s", ErrCorrupt, recoveryHint)
	}
	need := int64(best.hwm) * int64(best.pageSize)
	if best.pageSize == 0 || size < need || best.root >= best.hwm ||
		(best.freelist != boltNoFreelist && best.freelist >= best.hwm) {
		return fmt.Errorf("%w (file is %d bytes, its meta page needs %d: truncated)%s", ErrCorrupt, size, need, recoveryHint)
	}
	return nil
}
