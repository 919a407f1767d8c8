//go:build !unix

package tail

import (
	"io/fs"
	"os"
)

func idOf(fi fs.FileInfo) (FileID, bool) { return FileID{}, false }

func nlinkOf(fi fs.FileInfo) (uint64, bool) { return 0, false }

const openFlags = os.O_RDONLY
