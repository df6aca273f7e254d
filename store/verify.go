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
	w := treeWalk{f: f, m: best, visited: map[uint64]bool{}}
	if err := w.root(best.root, 0); err != nil {
		return fmt.Errorf("%w (%v)%s", ErrCorrupt, err, recoveryHint)
	}
	return nil
}

// bbolt trusts the page ids it finds: a damaged one that points back up
// the tree sends a cursor round a cycle for ever (the open would hang, not
// fail). So checkFile also walks, reading the file itself, the pages the
// open's probe and every bucket lookup touch: every page of the root
// bucket (the buckets' names) and the first and the last path down each
// bucket. It checks each page's id, type and element bounds, and refuses a
// cycle or a tree deeper than any real one. Pages elsewhere in a bucket
// are bbolt's to read; a fault there is a panic that the store's recover
// turns into ErrCorrupt (see faultsPanic).
const (
	boltBranchPage     = 0x01
	boltLeafPage       = 0x02
	boltBucketLeafFlag = 0x01
	boltElemLen        = 16
	boltBucketHdrLen   = 16
	maxTreeDepth       = 32      // a B+tree of 4 KiB pages is < 10 deep at any size liqbox reaches
	maxRootPages       = 1024    // the root bucket holds a dozen names
	maxPageRead        = 1 << 26 // a page and its overflow, read at once
)

type treeWalk struct {
	f       *os.File
	m       boltMeta
	visited map[uint64]bool // pages of the root bucket seen
}

// page reads page id and its overflow pages.
func (w *treeWalk) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.m.hwm {
		return nil, fmt.Errorf("page id %d outside the file's %d pages", id, w.m.hwm)
	}
	ps := int64(w.m.pageSize)
	p := make([]byte, ps)
	if _, err := w.f.ReadAt(p, int64(id)*ps); err != nil {
		return nil, fmt.Errorf("cannot read page %d: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(p); got != id {
		return nil, fmt.Errorf("page %d holds page %d", id, got)
	}
	if ov := uint64(le.Uint32(p[12:])); ov > 0 {
		if ov >= w.m.hwm-id || (int64(ov)+1)*ps > maxPageRead {
			return nil, fmt.Errorf("page %d claims %d overflow pages", id, ov)
		}
		p = make([]byte, (int64(ov)+1)*ps)
		if _, err := w.f.ReadAt(p, int64(id)*ps); err != nil {
			return nil, fmt.Errorf("cannot read page %d: %w", id, err)
		}
	}
	return p, nil
}

// node reads page id and checks its elements.
func (w *treeWalk) node(id uint64) (p []byte, flags uint16, n int, err error) {
	if p, err = w.page(id); err != nil {
		return nil, 0, 0, err
	}
	flags, n, err = elements(p)
	return p, flags, n, err
}

// elements returns a page's type and element count, having checked that
// the element array and, for a leaf, every key and value lie in the page.
func elements(p []byte) (flags uint16, n int, err error) {
	le := binary.LittleEndian
	flags, n = le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if boltPageHdr+n*boltElemLen > len(p) {
		return 0, 0, fmt.Errorf("page %d: %d elements do not fit", le.Uint64(p), n)
	}
	switch flags {
	case boltBranchPage:
		if n == 0 {
			return 0, 0, fmt.Errorf("page %d: an empty branch", le.Uint64(p))
		}
	case boltLeafPage:
		for i := 0; i < n; i++ {
			if _, _, ok := leafElement(p, i); !ok {
				return 0, 0, fmt.Errorf("page %d: element %d lies outside the page", le.Uint64(p), i)
			}
		}
	default:
		return 0, 0, fmt.Errorf("page %d: type %#x where a branch or leaf belongs", le.Uint64(p), flags)
	}
	return flags, n, nil
}

// leafElement returns element i's flags and value, or false if its key or
// value lie outside p.
func leafElement(p []byte, i int) (flags uint32, v []byte, ok bool) {
	le := binary.LittleEndian
	off := boltPageHdr + i*boltElemLen
	flags = le.Uint32(p[off:])
	start := uint64(off) + uint64(le.Uint32(p[off+4:])) + uint64(le.Uint32(p[off+8:]))
	end := start + uint64(le.Uint32(p[off+12:]))
	if end > uint64(len(p)) {
		return 0, nil, false
	}
	return flags, p[start:end], true
}

func branchChild(p []byte, i int) uint64 {
	return binary.LittleEndian.Uint64(p[boltPageHdr+i*boltElemLen+8:])
}

// root walks every page of the root bucket's tree and, from its leaves,
// the edges of each bucket.
func (w *treeWalk) root(id uint64, depth int) error {
	if depth > maxTreeDepth || len(w.visited) >= maxRootPages {
		return fmt.Errorf("the root bucket is deeper or larger than any real one")
	}
	if w.visited[id] {
		return fmt.Errorf("page %d is reached twice: a cycle", id)
	}
	w.visited[id] = true
	p, flags, n, err := w.node(id)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if flags == boltBranchPage {
			if err := w.root(branchChild(p, i), depth+1); err != nil {
				return err
			}
			continue
		}
		ef, v, _ := leafElement(p, i)
		if ef&boltBucketLeafFlag == 0 {
			continue
		}
		if len(v) < boltBucketHdrLen {
			return fmt.Errorf("page %d: a bucket header of %d bytes", id, len(v))
		}
		if root := binary.LittleEndian.Uint64(v); root != 0 {
			for _, last := range []bool{false, true} {
				if err := w.edge(root, last); err != nil {
					return err
				}
			}
		} else if len(v) < boltBucketHdrLen+boltPageHdr {
			return fmt.Errorf("page %d: an inline bucket of %d bytes", id, len(v))
		} else if _, _, err := elements(v[boltBucketHdrLen:]); err != nil {
			return fmt.Errorf("inline bucket in %w", err)
		}
	}
	return nil
}

// edge follows a bucket's first (or last) child from its root to a leaf.
func (w *treeWalk) edge(id uint64, last bool) error {
	for depth := 0; depth <= maxTreeDepth; depth++ {
		p, flags, n, err := w.node(id)
		if err != nil {
			return err
		}
		if flags == boltLeafPage {
			return nil
		}
		i := 0
		if last {
			i = n - 1
		}
		id = branchChild(p, i)
	}
	return fmt.Errorf("a bucket deeper than %d pages: a cycle", maxTreeDepth)
}
