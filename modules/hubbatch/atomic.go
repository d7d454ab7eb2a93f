package hubbatch

// atomic runs the operations in order inside one upstream transaction.
func (br *batchRun) atomic() {
	for i := range br.ops {
		br.results[i] = br.one(i)
	}
}
