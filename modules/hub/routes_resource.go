package hub

import "strings"

// Resource names the resource a request path addresses, in the
// vocabulary's own terms, for handlers that work per resource (such as
// hub_fields' whitelists):
//
//	/api/v1/<resource>                   → <resource>, collection
//	/api/v1/<resource>/42                → <resource>, one item
//	/api/v1/<resource>/42/<word>         → <word>, collection (nested)
//	/api/v1/<group>/<word>[/42]          → <word> (a group such as admin)
//	/api/<namespace>/<word>[/42]         → <word>
//
// known is false for every other path: outside the API tree, under an
// unknown version segment, or naming a resource or word the vocabulary
// does not list — the upstream answers those (usually 404). versioned
// reports a <prefix>/<version>/ path, whose names a version translator
// may rename.
func (rt *Routes) Resource(path string) (entity string, collection, versioned, known bool) {
	rt = rt.orDefault()
	rest, ok := strings.CutPrefix(path, rt.prefix+"/")
	if !ok {
		return "", false, false, false
	}
	top, rest, _ := strings.Cut(rest, "/")
	switch {
	case rt.namespaces[top]:
	case isVersion(top):
		versioned = true
	default:
		return "", false, false, false
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(segs) == 0 || segs[0] == "" {
		return "", false, versioned, false
	}
	first := rt.names[segs[0]]
	if versioned {
		first = rt.resources[segs[0]]
	}
	if first == nil {
		return "", false, versioned, false
	}
	i := 0
	if first.Group {
		if len(segs) < 2 || rt.names[segs[1]] == nil {
			return "", false, versioned, false
		}
		i = 1
	}
	// <name>[/<id>[/<word>[/<id>…]]]: the last name is the entity.
	for {
		entity = segs[i]
		switch {
		case i+1 == len(segs):
			return entity, true, versioned, true
		case i+2 == len(segs):
			return entity, false, versioned, true
		case rt.names[segs[i+2]] == nil:
			return "", false, versioned, false
		}
		i += 2
	}
}
