"""Registration meta API (wamp-spec §6.2) used by real Autobahn|Python sessions; each
scenario runs in a realm of its own."""


def test_registration_meta_procedures_list_lookup_match_get_callees(scripts):
    scripts.run("rpc_registration_meta.py", "procedures")


def test_registration_meta_events_create_register_unregister_delete_in_order(scripts):
    scripts.run("rpc_registration_meta.py", "events")


def test_remove_callee_revokes_one_callee_and_deletes_with_the_last(scripts):
    scripts.run("rpc_registration_meta.py", "remove_callee")


def test_remove_callee_sends_no_unregistered_to_callee_without_registration_revocation(scripts):
    scripts.run("rpc_registration_meta.py", "remove_callee_silently")
